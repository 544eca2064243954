"""``greenguard status``: the one-screen summary and its exit status."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.events import isoformat, utc_now
from shared.kafka import Publisher, ensure_topics
from shared.operator.common import OperatorSettings
from shared.operator.status import gather_status, parse_marks, parse_services
from shared.topics import (
    ALL_TOPICS,
    CANDIDATE_EVENTS,
    INTEGRATION_STATE,
    POLLER_STATE,
    PROTECTED_USERS,
    topic_name,
)
from tests.operator.conftest import Completed

pytestmark = pytest.mark.integration


def connect_record(status: str, reason: str) -> bytes:
    return orjson.dumps(
        {
            "status": status,
            "reason": reason,
            "missing_scopes": [],
            "organization": {"id": 7, "name": "Acme"},
            "warnings": [],
            "checked_at": isoformat(utc_now() - timedelta(minutes=3)),
        }
    )


def mark_record(resource: str, age: timedelta) -> bytes:
    return orjson.dumps(
        {
            "resource": resource,
            "high_water_mark": "2024-01-01T00:00:00Z",
            "last_success_at": isoformat(utc_now() - age),
            "records_published": 12,
        }
    )


async def write_state(
    settings: OperatorSettings, records: list[tuple[Any, str, bytes | None]]
) -> None:
    await ensure_topics(settings, ALL_TOPICS)
    publisher = Publisher(settings)
    await publisher.start()
    try:
        for spec, key, value in records:
            await publisher.publish(spec, key, value)
    finally:
        await publisher.stop()


def test_parse_services_tolerates_bad_records() -> None:
    checks = parse_services(
        {
            "connect:poller": connect_record("Degraded", "acting user is not a Site Admin"),
            "connect:notifier": b"not json",
            "custom-field:greenguard_status": b"{}",
        }
    )

    assert [(check.service, check.status) for check in checks] == [
        ("notifier", "unknown"),
        ("poller", "Degraded"),
    ]


def test_parse_marks_judges_age() -> None:
    now = utc_now()
    marks = parse_marks(
        {
            "mark:applications": mark_record("applications", timedelta(seconds=30)),
            "mark:interviews": mark_record("interviews", timedelta(minutes=10)),
            "mark:jobs": b"{}",
            "interview:55": b"{}",
        },
        now,
        stale_after=300,
    )

    assert [(mark.resource, mark.stale) for mark in marks] == [
        ("applications", False),
        ("interviews", True),
        ("jobs", True),
    ]


async def test_status_all_fine(
    make_settings: Callable[..., Any], greenguard: Callable[..., Awaitable[Completed]]
) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)
    await write_state(
        settings,
        [
            (INTEGRATION_STATE, "connect:enricher", connect_record("Failed", "old check")),
            (
                INTEGRATION_STATE,
                "connect:enricher",
                connect_record("Connected", "Connected to Acme"),
            ),
            (POLLER_STATE, "mark:applications", mark_record("applications", timedelta(seconds=20))),
            (PROTECTED_USERS, "ann@example.com", b"{}"),
            (PROTECTED_USERS, "bob@example.com", b"{}"),
            (PROTECTED_USERS, "bob@example.com", None),
            (CANDIDATE_EVENTS, "1", b"{}"),
        ],
    )
    topic = topic_name(CANDIDATE_EVENTS, settings.kafka_topic_prefix)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"{settings.kafka_topic_prefix}greenguard-enricher",
        enable_auto_commit=False,
    )
    await consumer.start()
    partitions = [TopicPartition(topic, n) for n in range(3)]
    consumer.assign(partitions)
    await consumer.commit({tp: 0 for tp in partitions})
    await consumer.stop()

    result = await greenguard("status")

    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout
    assert "enricher  Connected" in output
    assert "Connected to Acme" in output
    assert "(3m " in output
    assert "applications" in output
    assert "Protected users: 1" in output
    assert "greenguard-enricher  lag 1 (1 of 3 partitions behind)" in output
    assert "greenguard-notifier  no committed offsets yet" in output
    assert output.rstrip().endswith("Status: OK")


async def test_status_not_connected_exits_one(
    make_settings: Callable[..., Any], greenguard: Callable[..., Awaitable[Completed]]
) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)
    await write_state(
        settings,
        [(INTEGRATION_STATE, "connect:notifier", connect_record("Degraded", "acting user"))],
    )

    result = await greenguard("status", "--json")

    assert result.returncode == 1
    document = orjson.loads(result.stdout)
    assert document["ok"] is False
    assert document["problems"] == ["notifier is Degraded: acting user"]
    assert document["integration"][0]["status"] == "Degraded"


async def test_status_stale_poll(make_settings: Callable[..., Any]) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)
    await write_state(
        settings,
        [
            (INTEGRATION_STATE, "connect:poller", connect_record("Connected", "Connected")),
            (POLLER_STATE, "mark:interviews", mark_record("interviews", timedelta(minutes=2))),
        ],
    )

    now = utc_now()
    relaxed = await gather_status(settings, stale_after=300, now=now)
    strict = await gather_status(settings, stale_after=60, now=now)

    assert relaxed.ok
    assert not strict.ok
    [problem] = strict.problems
    assert problem.startswith("interviews: last successful poll 2m ")
    assert problem.endswith("ago, more than 1m 0s")
    assert "STALE" in strict.render()


async def test_status_of_empty_cluster(make_settings: Callable[..., Any]) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)

    report = await gather_status(settings, stale_after=300)

    text = report.render()
    assert not report.ok
    assert "unknown: no connection check recorded yet" in text
    assert "no data yet: no successful poll recorded" in text
    assert "Protected users: unknown" in text
    assert report.to_dict()["protected_users"] is None


def test_slow_resource_not_stale_within_three_intervals() -> None:
    from datetime import UTC, datetime, timedelta

    import orjson

    from shared.operator.status import parse_marks

    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)

    def mark(resource: str, minutes_ago: float, interval: float | None) -> bytes:
        moment = (now - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")
        return orjson.dumps(
            {"resource": resource, "last_success_at": moment, "interval_seconds": interval}
        )

    state = {
        "mark:sources": mark("sources", 100, 3600),
        "mark:jobs": mark("jobs", 50, 900),
        "mark:interviews": mark("interviews", 10, 30),
        "mark:users": mark("users", 10, None),
    }
    stale = {entry.resource: entry.stale for entry in parse_marks(state, now, 300)}
    assert stale == {"sources": False, "jobs": True, "interviews": True, "users": True}
