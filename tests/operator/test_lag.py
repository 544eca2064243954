"""``greenguard lag`` and the lag computation it shares with ``status``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devstack.broker import free_port
from shared.kafka import Publisher, ensure_topics
from shared.operator.common import (
    OperatorSettings,
    PartitionLag,
    compute_lag,
    format_age,
    render_table,
)
from shared.operator.lag import gather_lag, render_lag
from shared.topics import ALL_TOPICS, CANDIDATE_EVENTS, topic_name
from tests.operator.conftest import Completed

pytestmark = pytest.mark.integration

ENRICHER = "greenguard-enricher"


async def commit(
    settings: OperatorSettings, group: str, offsets: dict[TopicPartition, int]
) -> None:
    """Commit offsets for a group without joining it, as a stopped service leaves them."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"{settings.kafka_topic_prefix}{group}",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def publish_one_per_batch(settings: OperatorSettings, count: int) -> list[tuple[int, int]]:
    """Publish ``count`` records to candidate-events, each in its own batch."""
    publisher = Publisher(settings)
    await publisher.start()
    try:
        return [
            await publisher.publish(CANDIDATE_EVENTS, str(4000 + n % 2), b"{}")
            for n in range(count)
        ]
    finally:
        await publisher.stop()


def test_compute_lag_pairs_commits_with_ends() -> None:
    a, b, c, d = (TopicPartition("events", n) for n in range(4))
    rows = compute_lag("g", {b: 3, a: 5, c: -1, d: 2}, {a: 9, b: 2, c: 4})

    assert [row.partition for row in rows] == [0, 1]
    assert rows[0].lag == 4
    assert rows[1].lag == 0  # a commit read after the end offset never shows negative lag


def test_render_table_aligns_numbers_right() -> None:
    text = render_table(("NAME", "COUNT"), [("a", 5), ("bbbb", 123), ("c", None)])

    assert text.splitlines() == ["NAME  COUNT", "a         5", "bbbb    123", "c     -"]


def test_format_age_units() -> None:
    assert format_age(42) == "42s"
    assert format_age(185) == "3m 5s"
    assert format_age(7_800) == "2h 10m"
    assert format_age(4 * 86_400 + 3 * 3_600) == "4d 3h"
    assert format_age(-5) == "0s"


def test_render_lag_names_groups_without_commits() -> None:
    rows = [PartitionLag("p.greenguard-enricher", "p.greenhouse.candidate-events", 1, 4, 6)]
    text = render_lag({"p.greenguard-enricher": rows, "p.greenguard-notifier": []}, "p.")

    assert "greenhouse.candidate-events" in text
    assert "p.greenhouse" not in text
    assert "greenguard-enricher: lag 2 (1 of 1 partition behind)" in text
    assert "greenguard-notifier: no committed offsets yet" in text


async def test_lag_counts_records_after_commit(make_settings: Callable[..., Any]) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)
    await ensure_topics(settings, ALL_TOPICS)
    written = await publish_one_per_batch(settings, 7)
    topic = topic_name(CANDIDATE_EVENTS, settings.kafka_topic_prefix)
    ends = {p: max(o for q, o in written if q == p) + 1 for p, _ in written}
    committed = {TopicPartition(topic, p): 1 for p in ends}
    await commit(settings, ENRICHER, committed)

    lag = await gather_lag(settings)

    rows = lag[f"{settings.kafka_topic_prefix}{ENRICHER}"]
    assert {(row.partition, row.end) for row in rows} == set(ends.items())
    assert sum(row.lag for row in rows) == 7 - len(ends)
    assert lag[f"{settings.kafka_topic_prefix}greenguard-notifier"] == []


async def test_lag_sees_end_of_multi_record_batch(make_settings: Callable[..., Any]) -> None:
    # The embedded broker reports the end of a partition whose last batch contains several records
    # as that batch's base offset + 1; the fetch high watermark is right.
    settings: OperatorSettings = make_settings(OperatorSettings)
    await ensure_topics(settings, [CANDIDATE_EVENTS])
    topic = topic_name(CANDIDATE_EVENTS, settings.kafka_topic_prefix)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, linger_ms=100, enable_idempotence=False
    )
    await producer.start()
    try:
        sent = [await producer.send(topic, b"{}", partition=0) for _ in range(5)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    await commit(settings, ENRICHER, {TopicPartition(topic, 0): 1})

    lag = await gather_lag(settings, [ENRICHER])

    [row] = lag[f"{settings.kafka_topic_prefix}{ENRICHER}"]
    assert row.end == 5
    assert row.lag == 4


async def test_lag_command_prints_json(
    make_settings: Callable[..., Any], greenguard: Callable[..., Awaitable[Completed]]
) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)
    await ensure_topics(settings, ALL_TOPICS)
    written = await publish_one_per_batch(settings, 3)
    topic = topic_name(CANDIDATE_EVENTS, settings.kafka_topic_prefix)
    await commit(settings, "custom-group", {TopicPartition(topic, p): 0 for p, _ in written})

    result = await greenguard("lag", "--group", "custom-group", "--json")

    assert result.returncode == 0, result.stderr
    document = orjson.loads(result.stdout)
    assert document["topic_prefix"] == settings.kafka_topic_prefix
    [group] = document["groups"]
    assert group["group"] == "custom-group"
    assert group["total_lag"] == 3
    assert {entry["topic"] for entry in group["partitions"]} == {CANDIDATE_EVENTS.name}


async def test_lag_command_prints_table(
    make_settings: Callable[..., Any], greenguard: Callable[..., Awaitable[Completed]]
) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)
    await ensure_topics(settings, ALL_TOPICS)

    result = await greenguard("lag")

    assert result.returncode == 0, result.stderr
    assert "greenguard-enricher: no committed offsets yet" in result.stdout
    assert "greenguard-poller: no committed offsets yet" in result.stdout


async def test_lag_command_unreachable_broker(
    greenguard: Callable[..., Awaitable[Completed]],
) -> None:
    unused = {
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "OPERATOR_TIMEOUT_SECONDS": "5",
    }

    result = await greenguard("lag", env=unused)

    assert result.returncode == 69
    assert "greenguard lag: could not connect" in result.stderr
    assert "KAFKA_BOOTSTRAP_SERVERS" in result.stderr
    assert "Traceback" not in result.stderr
