"""Nothing is lost under failures: the fault scenario once, then one test per guarantee.

The module fixture starts the whole stack as subprocesses with a durable broker, runs
``tests.faults.scenario`` against it and stops it. Sizes come from ``FAULTS_*`` variables
(``tests.faults.workload.SuiteSettings``); ``FAULTS_RUN_DIR`` keeps the logs and the report
(default ``.run/faults``). See ``docs/reliability.md`` for what a run measured.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.stack import SERVICES, Stack, StackOptions
from tests.faults.scenario import Outcome, Scenario
from tests.faults.workload import CANDIDATE_TOPIC, ORG_TOPIC, SuiteSettings

pytestmark = [pytest.mark.faults, pytest.mark.timeout(1800)]

STACK_ENV = {
    # A delivery made while the broker is down gets 503 after this long.
    "KAFKA_PUBLISH_TIMEOUT_SECONDS": "2",
    # Short enough that the scenario's slowest Greenhouse responses time out.
    "GREENHOUSE_TIMEOUT_SECONDS": "3",
    # Every fetch costs the s3:// engine an object listing, and moto's listing walks every
    # object of the bucket. Shorter waits make the S3 server the bottleneck of the run.
    "KAFKA_FETCH_MAX_WAIT_MS": "500",
}


@pytest.fixture(scope="module")
def outcome() -> Iterator[Outcome]:
    settings = SuiteSettings.from_env()
    run_dir = Path(os.environ.get("FAULTS_RUN_DIR", ".run/faults"))
    options = StackOptions(
        run_dir=run_dir,
        durable=True,
        seed="empty",
        # Greenhouse's real limit would make the run last hours; the client's pacing is
        # tested on its own (tests/greenhouse/test_ratelimit.py).
        fake_args=["--rate-limit", "1000000"],
        env=STACK_ENV,
    )
    started = time.monotonic()
    stack = Stack(options)
    try:
        stack.start()
        result = asyncio.run(Scenario(stack, settings).run())
    finally:
        statuses = stack.stop()
    result.exit_statuses = statuses
    result.timings["total"] = round(time.monotonic() - started, 1)
    report = summarize(result)
    (run_dir / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps(report, indent=2))
    yield result


def summarize(outcome: Outcome) -> dict[str, Any]:
    """Return the counts that docs/reliability.md reports."""
    counts = outcome.deliveries
    notes = outcome.notes_by_alert()
    return {
        "settings": vars(outcome.settings),
        "deliveries": {
            "sent": counts.sent,
            "attempts": counts.attempts,
            "acknowledged": counts.acknowledged,
            "redeliveries": counts.redeliveries,
            "given_up": counts.given_up,
            "statuses": dict(counts.statuses),
        },
        "alerts": {
            "valid": len(outcome.alerts.valid_ids),
            "published_twice": outcome.alerts.duplicates,
            "poisoned": len(outcome.alerts.poisoned),
        },
        "faults": dict(outcome.faults),
        "fake_greenhouse_statuses": outcome.fake_statuses,
        "notes_written": len(outcome.notes),
        "alerts_with_two_notes": sum(1 for count in notes.values() if count > 1),
        "dead_letters": len(outcome.dead_letters),
        "pipeline_retries": outcome.retries,
        "settled": outcome.settled,
        "exit_statuses": outcome.exit_statuses,
        "unplanned_exits": outcome.unplanned_exits,
        "timings_seconds": outcome.timings,
    }


def test_run_settled(outcome: Outcome) -> None:
    assert outcome.settled, "the pipeline did not settle; see the other failures and the logs"


def test_deliveries_all_acknowledged(outcome: Outcome) -> None:
    # Each outage lasts seconds and Greenhouse retries for hours, so none may be given up.
    assert outcome.deliveries.given_up_ids == []
    assert outcome.deliveries.acknowledged == outcome.settings.deliveries


def test_deliveries_answered_503_in_outages(outcome: Outcome) -> None:
    assert outcome.deliveries.statuses["503"] > 0
    assert outcome.faults["broker_restarts"] == 2


def test_acknowledged_deliveries_reached_topics(outcome: Outcome) -> None:
    for topic in (CANDIDATE_TOPIC, ORG_TOPIC):
        acknowledged = {
            event_id
            for event_id, expected in outcome.deliveries.acknowledged_ids.items()
            if expected == topic
        }
        missing = acknowledged - outcome.event_ids[topic]
        assert not missing, f"{len(missing)} acknowledged deliveries missing from {topic}"


def test_protected_interviews_have_records(outcome: Outcome) -> None:
    protected = set(outcome.seeded.protected_interviews)
    assert set(outcome.protected_records) == protected


def test_unprotected_interviews_stay_unprotected(outcome: Outcome) -> None:
    unprotected = set(outcome.seeded.unprotected_interviews)
    assert not unprotected & set(outcome.protected_records)


def test_protected_interviews_have_link(outcome: Outcome) -> None:
    wrong = []
    for interview_id, candidate_id in outcome.seeded.protected_interviews.items():
        record = outcome.protected_records.get(interview_id, {})
        fields = outcome.custom_fields[candidate_id]
        link = fields.get("secure_interview_link", {}).get("value")
        if link is None or link != record.get("secure_url"):
            wrong.append(interview_id)
    assert wrong == []


def test_protected_interviews_have_one_note(outcome: Outcome) -> None:
    notes = outcome.notes_by_alert()
    per_interview: Counter[int] = Counter()
    for alert_id, count in notes.items():
        if alert_id.startswith("protection:"):
            per_interview[int(alert_id.split(":")[1])] += count
    expected = dict.fromkeys(outcome.seeded.protected_interviews, 1)
    assert dict(per_interview) == expected


def test_every_alert_has_one_note(outcome: Outcome) -> None:
    notes = outcome.notes_by_alert()
    missing = sorted(outcome.alerts.valid_ids - set(notes))
    assert missing == []


def test_no_alert_has_two_notes(outcome: Outcome) -> None:
    twice = {alert_id: n for alert_id, n in outcome.notes_by_alert().items() if n > 1}
    assert twice == {}


def test_no_note_without_alert(outcome: Outcome) -> None:
    expected = len(outcome.alerts.valid_ids) + len(outcome.seeded.protected_interviews)
    assert len(outcome.notes) == expected


def test_statuses_match_last_alert(outcome: Outcome) -> None:
    expected: dict[int, str | None] = dict.fromkeys(outcome.seeded.candidate_ids)
    for candidate_id in outcome.seeded.protected_interviews.values():
        expected[candidate_id] = "Pending"
    expected.update(outcome.alerts.final_status)
    actual = {
        candidate_id: fields.get("identity_verification_status", {}).get("value")
        for candidate_id, fields in outcome.custom_fields.items()
    }
    assert actual == expected


def test_nothing_stuck(outcome: Outcome) -> None:
    for group, rows in outcome.lag.items():
        assert rows, f"{group} has committed nothing"
        behind = [(row.topic, row.partition, row.lag) for row in rows if row.lag]
        assert behind == [], f"{group} is behind"
    assert outcome.in_flight == {"enricher": 0.0, "notifier": 0.0}


def test_dead_letters_are_poisoned_records(outcome: Outcome) -> None:
    values = [letter.value for letter in outcome.dead_letters]
    # A SIGKILL between the dead-letter write and the offset commit may write a second copy of
    # the same source record. The set of records must still be exactly the poisoned ones.
    assert set(values) == set(outcome.alerts.poisoned)


def test_dead_letters_come_from_notifier(outcome: Outcome) -> None:
    groups = {letter.headers.get("dlq-consumer-group") for letter in outcome.dead_letters}
    assert groups == {"greenguard-notifier"}


def test_no_service_exited_unasked(outcome: Outcome) -> None:
    assert outcome.unplanned_exits == []


def test_services_stop_cleanly(outcome: Outcome) -> None:
    statuses = {name: outcome.exit_statuses.get(name) for name in SERVICES}
    assert statuses == dict.fromkeys(SERVICES, 0)
