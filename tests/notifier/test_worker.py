"""The notifier end to end: embedded broker, fake Greenhouse over HTTP, real worker tasks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from devstack.fake_greenhouse import FakeGreenhouse
from devstack.fake_greenhouse.faults import Fault
from services.notifier.ledger import ledger_key
from services.notifier.notes import render_note
from services.notifier.settings import NotifierSettings
from shared.alerts import KINDS, Alert
from shared.kafka import Headers, Publisher, read_compacted
from shared.operator.common import ClusterReader, Record, header_text
from shared.topics import DEAD_LETTER, INTEGRATION_STATE, topic_name
from tests.helpers import wait_until
from tests.notifier.conftest import Notifier

pytestmark = pytest.mark.integration

STATUS_KEY = "identity_verification_status"


def add_candidate(fake: FakeGreenhouse) -> int:
    return int(fake.state.insert("candidates", {"first_name": "Test", "last_name": "Person"})["id"])


def add_application(fake: FakeGreenhouse, candidate_id: int) -> int:
    return int(fake.state.insert("applications", {"candidate_id": candidate_id})["id"])


def make_alert(
    alert_id: str, candidate_id: int, kind: str = "link_forwarded", **fields: Any
) -> Alert:
    values: dict[str, Any] = {
        "id": alert_id,
        "candidate_id": candidate_id,
        "kind": kind,
        "severity": "warning",
        "summary": f"Summary of {alert_id}.",
        "occurred_at": "2026-01-12T15:04:05.000Z",
        **fields,
    }
    return Alert(**values)


def notes(fake: FakeGreenhouse, candidate_id: int | None = None) -> list[dict[str, Any]]:
    with fake.state.lock:
        return [
            dict(note)
            for note in fake.state.records["notes"].values()
            if candidate_id is None or note["candidate_id"] == candidate_id
        ]


def notes_for(fake: FakeGreenhouse, alert_id: str) -> list[dict[str, Any]]:
    return [note for note in notes(fake) if f"Greenguard alert id: {alert_id}" in note["body"]]


def requests(fake: FakeGreenhouse, method: str, path: str) -> int:
    with fake.state.lock:
        return fake.state.request_counts[(method, path)]


def status_of(fake: FakeGreenhouse, candidate_id: int) -> Any:
    with fake.state.lock:
        view = fake.state.candidate_view(fake.state.get("candidates", candidate_id))
    return view["custom_fields"].get(STATUS_KEY, {}).get("value")


async def dead_letters(settings: NotifierSettings) -> list[Record]:
    async with ClusterReader(settings, timeout_seconds=10) as reader:
        return await reader.read_topic(topic_name(DEAD_LETTER, settings.kafka_topic_prefix))


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_each_kind_becomes_a_note(fake: FakeGreenhouse, notifier: Notifier) -> None:
    candidate_id = add_candidate(fake)
    application_id = add_application(fake, candidate_id)
    alerts = [
        make_alert(
            f"kind-{kind}",
            candidate_id,
            kind,
            application_id=application_id,
            interview_id=510000002,
            evidence_url="https://verify.example.invalid/r/1",
        )
        for kind in KINDS
    ]
    notifier.start()
    for alert in alerts:
        await notifier.send(alert)

    await wait_until(
        lambda: len(notes(fake)) == len(KINDS), timeout=30, message="one note per kind"
    )

    for alert in alerts:
        [note] = notes_for(fake, alert.id)
        assert note["body"] == render_note(alert)
        assert note["application_id"] == application_id
        assert note["visibility"] == "admin_only_visible"
        assert note["type"] == "NOTE"
    # The last status kind in KINDS order is unable_to_complete.
    await wait_until(lambda: status_of(fake, candidate_id) == "Unable to Complete", timeout=10)


async def test_note_author_and_visibility_settings(
    fake: FakeGreenhouse, notifier: Notifier, settings: NotifierSettings
) -> None:
    author = fake.state.insert("users", {"first_name": "Rita", "last_name": "Recruiter"})
    notifier.settings = settings.model_copy(
        update={
            "greenguard_note_author_user_id": author["id"],
            "greenguard_note_visibility": "private",
        }
    )
    candidate_id = add_candidate(fake)
    notifier.start()
    await notifier.send(make_alert("authored", candidate_id))

    await wait_until(lambda: len(notes(fake)) == 1, timeout=30, message="the note")

    [note] = notes(fake)
    assert note["user_id"] == author["id"]
    assert note["visibility"] == "privately_visible"
    assert note["application_id"] is None


async def test_same_alert_five_times_one_note(fake: FakeGreenhouse, notifier: Notifier) -> None:
    candidate_id = add_candidate(fake)
    repeated = make_alert("repeated", candidate_id)
    notifier.start()
    for _ in range(5):
        await notifier.send(repeated)
    # Same key, so the same partition: once the sentinel's note exists, all five were handled.
    await notifier.send(make_alert("sentinel", candidate_id))

    await wait_until(lambda: len(notes_for(fake, "sentinel")) == 1, timeout=30, message="sentinel")

    assert len(notes_for(fake, "repeated")) == 1
    # The ledger covered every redelivery, so no listing of the candidate's notes was needed.
    assert requests(fake, "GET", "/v3/notes") == 0


async def test_crash_after_ledger_before_commit(fake: FakeGreenhouse, notifier: Notifier) -> None:
    candidate_id = add_candidate(fake)
    alert = make_alert("crash-late", candidate_id, "verified")
    # The status read after the note hangs, so the worker can be killed before it commits.
    with fake.state.lock:
        fake.state.faults.add(Fault(path_prefix="/v3/candidates", method="GET", delay_seconds=20))
    first = notifier.start()
    await notifier.send(alert)
    await wait_until(
        lambda: requests(fake, "GET", "/v3/candidates") == 1, timeout=30, message="status read"
    )
    assert len(notes_for(fake, alert.id)) == 1

    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    notifier.running.clear()
    notifier.start()

    await wait_until(
        lambda: status_of(fake, candidate_id) == "Verified", timeout=30, message="status"
    )
    assert len(notes_for(fake, alert.id)) == 1
    assert requests(fake, "GET", "/v3/notes") == 0


class StallingPublisher(Publisher):
    """Publishes normally, except that the first "written" ledger marker never completes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stalled = asyncio.Event()

    async def publish(
        self, spec: Any, key: str | None, value: bytes | None, headers: Headers = ()
    ) -> tuple[int, int]:
        is_written_marker = bool(key and key.startswith("notes-ledger:") and value)
        if is_written_marker and b'"written"' in (value or b"") and not self.stalled.is_set():
            self.stalled.set()
            await asyncio.Event().wait()
        return await super().publish(spec, key, value, headers)


async def test_crash_after_note_before_ledger(
    fake: FakeGreenhouse, notifier: Notifier, settings: NotifierSettings
) -> None:
    candidate_id = add_candidate(fake)
    alert = make_alert("crash-early", candidate_id, "mismatch")
    stalling = StallingPublisher(settings)
    first = notifier.start(publisher=stalling)
    await notifier.send(alert)
    await wait_until(stalling.stalled.is_set, timeout=30, message="the note written")
    assert len(notes_for(fake, alert.id)) == 1

    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    notifier.running.clear()
    state = await read_compacted(settings, INTEGRATION_STATE)
    assert orjson.loads(state[ledger_key(alert.id)])["state"] == "writing"
    notifier.start()

    await wait_until(
        lambda: status_of(fake, candidate_id) == "Mismatch", timeout=30, message="status"
    )
    assert len(notes_for(fake, alert.id)) == 1
    # The marker meant "unsure", so the restarted notifier listed the notes and found it.
    assert requests(fake, "GET", "/v3/notes") == 1
    await wait_until(
        lambda: _ledger_state(settings, alert.id, "written"), timeout=10, message="ledger written"
    )


async def _ledger_state(settings: NotifierSettings, alert_id: str, expected: str) -> bool:
    state = await read_compacted(settings, INTEGRATION_STATE)
    raw = state.get(ledger_key(alert_id))
    return raw is not None and orjson.loads(raw)["state"] == expected


async def test_two_replicas_one_note_each(fake: FakeGreenhouse, notifier: Notifier) -> None:
    candidates = [add_candidate(fake) for _ in range(6)]
    notifier.start()
    notifier.start()
    for round_number in range(3):
        for candidate_id in candidates:
            alert = make_alert(f"r{round_number}-{candidate_id}", candidate_id)
            await notifier.send(alert)
            await notifier.send(alert)

    await wait_until(lambda: len(notes(fake)) >= 18, timeout=40, message="18 notes")

    for round_number in range(3):
        for candidate_id in candidates:
            assert len(notes_for(fake, f"r{round_number}-{candidate_id}")) == 1


async def test_status_transitions(fake: FakeGreenhouse, notifier: Notifier) -> None:
    candidate_id = add_candidate(fake)
    path = f"/v3/candidates/{candidate_id}"
    sequence: Sequence[tuple[str, str]] = (
        ("s1", "protection_enabled"),
        ("s2", "verified"),
        ("s3", "protection_enabled"),
        ("s4", "failed"),
        ("s5", "failed"),
    )
    notifier.start()

    await notifier.send(make_alert("s1", candidate_id, "protection_enabled"))
    await wait_until(lambda: status_of(fake, candidate_id) == "Pending", timeout=30)
    for alert_id, kind in sequence[1:]:
        await notifier.send(make_alert(alert_id, candidate_id, kind))
    await notifier.send(make_alert("sentinel", candidate_id, "link_forwarded"))
    await wait_until(lambda: len(notes_for(fake, "sentinel")) == 1, timeout=30, message="sentinel")

    assert status_of(fake, candidate_id) == "Failed"
    # Pending, Verified, Failed: the late protection_enabled and the repeated failed wrote nothing.
    assert requests(fake, "PATCH", path) == 3
    assert len(notes(fake, candidate_id)) == len(sequence) + 1


async def test_invalid_alerts_dead_lettered(
    fake: FakeGreenhouse, notifier: Notifier, settings: NotifierSettings
) -> None:
    candidate_id = add_candidate(fake)
    unknown = make_alert("unknown-candidate", 899_999_999)
    notifier.start()
    key = str(candidate_id)
    await notifier.send_raw(key, b"{not json")
    await notifier.send_raw(
        key, orjson.dumps({**orjson.loads(make_alert("x", 5).to_json()), "kind": "odd"})
    )
    await notifier.send_raw(key, unknown.to_json())
    await notifier.send(make_alert("after", candidate_id))

    await wait_until(lambda: len(notes_for(fake, "after")) == 1, timeout=30, message="later alert")
    letters: list[Record] = []

    async def three_letters() -> bool:
        letters[:] = await dead_letters(settings)
        return len(letters) == 3

    await wait_until(three_letters, timeout=10, message="three dead letters")

    reasons = [header_text(record, "dlq-reason") or "" for record in letters]
    assert "alert is not valid JSON" in reasons[0]
    assert "alert field 'kind' is 'odd'" in reasons[1]
    assert "422" in reasons[2]
    assert "899999999" in reasons[2]
    assert header_text(letters[2], "dlq-error") == "GreenhouseValidationError"
    # Greenhouse created nothing, so the write-ahead marker was removed.
    state = await read_compacted(settings, INTEGRATION_STATE)
    assert ledger_key(unknown.id) not in state


async def test_burst_stays_under_rate_limit(
    fake: FakeGreenhouse, notifier: Notifier, settings: NotifierSettings
) -> None:
    # 60 requests per 1-second window: the 500 notes alone need at least 8 windows.
    fake.state.config.update({"rate_limit": 60, "rate_window_seconds": 1.0})
    candidates = [add_candidate(fake) for _ in range(50)]
    kinds = ("link_forwarded", "unverified_joiner", "deepfake_suspected", "unable_to_complete")
    alerts = [
        make_alert(f"burst-{number}", candidates[number % 50], kinds[number % len(kinds)])
        for number in range(500)
    ]
    rate_limited_before = sample(
        "greenguard_harvest_requests_total", {"endpoint": "POST /v3/notes", "status": "429"}
    )
    for alert in alerts:
        await notifier.send(alert)
    started = time.monotonic()
    notifier.start()

    await wait_until(lambda: len(notes(fake)) == 500, timeout=60, message="500 notes")
    elapsed = time.monotonic() - started

    assert len({note["body"].splitlines()[-1] for note in notes(fake)}) == 500
    assert await dead_letters(settings) == []
    group = settings.group_id
    assert sample("greenguard_record_retries_total", {"group": group}) == 0
    rate_limited = (
        sample("greenguard_harvest_requests_total", {"endpoint": "POST /v3/notes", "status": "429"})
        - rate_limited_before
    )
    # The budget paces the client; a rare 429 at a window edge is retried inside the client.
    assert rate_limited <= 5
    assert elapsed > 500 / 60 - 2


async def test_timed_out_create_not_duplicated(
    fake: FakeGreenhouse, notifier: Notifier, settings: NotifierSettings
) -> None:
    # Greenhouse creates the note but responds after the client's time-out. The retry's listing
    # must not run before that slow create has finished.
    candidate_id = add_candidate(fake)
    alert = make_alert("slow-create", candidate_id)
    with fake.state.lock:
        fake.state.faults.add(Fault(path_prefix="/v3/notes", method="POST", delay_seconds=0.8))
    notifier.settings = settings.model_copy(update={"greenhouse_timeout_seconds": 0.5})
    notifier.start()
    await notifier.send(alert)

    await wait_until(
        lambda: _ledger_state(settings, alert.id, "written"), timeout=30, message="ledger written"
    )

    # Sending the note again is what duplicates it: the slow create completes on its own.
    assert requests(fake, "POST", "/v3/notes") == 1
    await wait_until(lambda: len(notes_for(fake, alert.id)) == 1, timeout=10, message="the note")
