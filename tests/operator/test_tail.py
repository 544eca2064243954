"""``greenguard tail``: the readable line, the filters, the start position and Ctrl-C."""

from __future__ import annotations

import asyncio
import io
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord

from shared.events import Envelope
from shared.kafka import Publisher, ensure_topics
from shared.operator.common import OperatorSettings
from shared.operator.tail import TailOptions, json_line, summarize, tail
from shared.topics import (
    ALL_TOPICS,
    CANDIDATE_EVENTS,
    DEAD_LETTER,
    PROTECTED_MEETINGS,
    PROTECTED_USERS,
    VERIFICATION_ALERTS,
)
from tests.operator.conftest import GREENGUARD, Completed, cli_environment

pytestmark = pytest.mark.integration


def envelope(event_id: str, event_type: str, candidate_id: int) -> Envelope:
    return Envelope(
        id=event_id,
        source="webhook",
        type=event_type,
        resource=event_type.split(".")[0],
        candidate_id=candidate_id,
        application_id=candidate_id + 5000,
        data={"first_name": "Ada", "email": "ada@example.com"},
    )


def record(topic: str, key: bytes | None, value: bytes | None, headers: Any = ()) -> Any:
    return ConsumerRecord(topic, 1, 7, 1_700_000_000_000, 0, key, value, None, 0, 0, tuple(headers))


async def started_publisher(settings: OperatorSettings) -> Publisher:
    await ensure_topics(settings, ALL_TOPICS)
    publisher = Publisher(settings)
    await publisher.start()
    return publisher


def test_summary_line_shows_ids_not_personal_data() -> None:
    event = envelope("evt-1", "application.stage_changed", 4001)
    line = summarize(record("p.greenhouse.candidate-events", b"4001", event.to_json()), "p.").line()

    assert line == (
        "2023-11-14T22:13:20.000Z  greenhouse.candidate-events  1:7  key=4001  "
        "application.stage_changed  id=evt-1 candidate_id=4001 application_id=9001"
    )
    assert "Ada" not in line
    assert "example.com" not in line


def test_summary_hides_email_key() -> None:
    line = summarize(record(PROTECTED_USERS.name, b"ann@example.com", b"{}"), "").line()

    assert "key=<hidden>" in line
    assert "ann" not in line


def test_summary_of_alert_and_tombstone() -> None:
    alert = {"id": "a-1", "candidate_id": 12, "kind": "failed", "severity": "critical"}
    alert_line = summarize(record(VERIFICATION_ALERTS.name, b"12", orjson.dumps(alert)), "").line()
    tombstone_line = summarize(record(PROTECTED_USERS.name, b"x", None), "").line()

    assert "alert.failed  id=a-1 candidate_id=12 severity=critical" in alert_line
    assert "tombstone" in tombstone_line


def test_summary_of_dead_letter_names_source() -> None:
    headers = [
        ("dlq-source-topic", b"p.greenhouse.candidate-events"),
        ("dlq-source-partition", b"2"),
        ("dlq-source-offset", b"40"),
        ("dlq-error", b"InvalidEventError"),
        ("dlq-consumer-group", b"p.greenguard-enricher"),
        ("dlq-reason", b"field 'email' of ann@example.com is invalid"),
    ]
    line = summarize(record("p.greenguard.dead-letter", b"12", b"not json", headers), "p.").line()

    assert "source=greenhouse.candidate-events:2:40" in line
    assert "error=InvalidEventError group=greenguard-enricher" in line
    assert "example.com" not in line


def test_json_line_keeps_value_as_is() -> None:
    event = envelope("evt-1", "interview.updated", 4001)
    document = orjson.loads(json_line(record("t", b"4001", event.to_json(), [("h", b"v")])))

    assert document["value"] == orjson.loads(event.to_json())
    assert document["headers"] == {"h": "v"}
    assert document["key"] == "4001"


async def test_tail_starts_at_end(make_settings: Callable[..., Any]) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)
    publisher = await started_publisher(settings)
    old = envelope("old", "application.created", 1)
    await publisher.publish(CANDIDATE_EVENTS, "1", old.to_json())
    out = io.StringIO()
    options = TailOptions(max_records=1, timeout_seconds=20)
    task = asyncio.create_task(tail(settings, options, out))

    # Records published before tail reached the end are skipped too, so publish until one shows.
    while not task.done():
        new = envelope("new", "application.updated", 2)
        await publisher.publish(CANDIDATE_EVENTS, "2", new.to_json())
        await asyncio.wait([task], timeout=0.1)
    await publisher.stop()

    assert task.result() == 0
    assert "id=new" in out.getvalue()
    assert "id=old" not in out.getvalue()


async def test_tail_filters_by_candidate_and_type(make_settings: Callable[..., Any]) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)
    publisher = await started_publisher(settings)
    for event_id, event_type, candidate in (
        ("a", "interview.updated", 7),
        ("b", "interview.updated", 8),
        ("c", "application.updated", 7),
        ("d", "interview.created", 7),
    ):
        await publisher.publish(
            CANDIDATE_EVENTS, str(candidate), envelope(event_id, event_type, candidate).to_json()
        )
    await publisher.publish(
        PROTECTED_MEETINGS, "99", orjson.dumps({"type": "interview.protected", "interview_id": 99})
    )
    await publisher.stop()
    out = io.StringIO()
    options = TailOptions(
        candidate_id=7, type_pattern="interview.*", from_beginning=True, timeout_seconds=1.5
    )

    status = await tail(settings, options, out)

    assert status == 0
    lines = out.getvalue().splitlines()
    assert sorted(line.split("  id=")[1].split()[0] for line in lines) == ["a", "d"]


async def test_tail_without_topics_exits_one(make_settings: Callable[..., Any]) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)

    status = await tail(settings, TailOptions(timeout_seconds=1), io.StringIO())

    assert status == 1


async def test_tail_command_prints_json(
    make_settings: Callable[..., Any], greenguard: Callable[..., Awaitable[Completed]]
) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)
    publisher = await started_publisher(settings)
    for n in range(3):
        event = envelope(f"e{n}", "application.updated", 40 + n)
        await publisher.publish(CANDIDATE_EVENTS, str(40 + n), event.to_json())
    await publisher.stop()

    result = await greenguard(
        "tail", "--topic", CANDIDATE_EVENTS.name, "--from-beginning", "--json", "--max", "2"
    )

    assert result.returncode == 0, result.stderr
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    assert lines[0]["value"]["data"]["first_name"] == "Ada"
    assert lines[0]["topic"] == f"{settings.kafka_topic_prefix}{CANDIDATE_EVENTS.name}"


async def test_tail_command_stops_on_sigint(
    make_settings: Callable[..., Any], kafka_options: dict[str, Any]
) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)
    publisher = await started_publisher(settings)
    process = await asyncio.create_subprocess_exec(
        str(GREENGUARD),
        "tail",
        "--topic",
        DEAD_LETTER.name,
        env=cli_environment(kafka_options),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    first_line = asyncio.create_task(process.stdout.readline())
    async with asyncio.timeout(20):
        while not first_line.done():
            await publisher.publish(DEAD_LETTER, "1", b"{}")
            await asyncio.wait([first_line], timeout=0.1)
    await publisher.stop()

    process.send_signal(signal.SIGINT)
    async with asyncio.timeout(10):
        _stdout, stderr = await process.communicate()

    assert b"greenguard.dead-letter" in first_line.result()
    assert process.returncode == 0
    assert b"Traceback" not in stderr
