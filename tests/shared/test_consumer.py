"""The consumer pipeline against the embedded broker: order, commits, retries, dead letters."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from shared.consumer import ConsumerPipeline, PipelineHaltedError, PipelineOptions
from shared.errors import GreenguardError, InvalidEventError
from shared.health import Health
from shared.kafka import Publisher, ensure_topics, read_to_end
from shared.settings import KafkaSettings
from shared.topics import CANDIDATE_EVENTS, DEAD_LETTER, topic_name
from tests.helpers import wait_until

pytestmark = pytest.mark.integration


class Flaky(GreenguardError):
    retriable = True


def decode(record: ConsumerRecord[bytes, bytes]) -> str:
    if record.value == b"poison":
        raise InvalidEventError("poison record")
    return record.value.decode()


def pipeline(
    settings: KafkaSettings, publisher: Publisher, handler: Any, **options: Any
) -> ConsumerPipeline[str]:
    return ConsumerPipeline(
        settings,
        topics=[topic_name(CANDIDATE_EVENTS, settings.kafka_topic_prefix)],
        group_id=f"{settings.kafka_topic_prefix}group",
        decode=decode,
        handler=handler,
        publisher=publisher,
        health=Health(),
        options=PipelineOptions(
            backoff_initial_seconds=0.01, commit_interval_seconds=0.05, **options
        ),
    )


async def start(
    settings: KafkaSettings,
) -> Publisher:
    await ensure_topics(settings, [CANDIDATE_EVENTS, DEAD_LETTER])
    publisher = Publisher(settings)
    await publisher.start()
    return publisher


async def test_keeps_order_per_key(kafka_settings: KafkaSettings) -> None:
    publisher = await start(kafka_settings)
    seen: dict[str, list[int]] = {}

    async def handle(value: str, record: ConsumerRecord[bytes, bytes]) -> None:
        key, number = value.split(":")
        seen.setdefault(key, []).append(int(number))

    for number in range(30):
        for key in ("a", "b", "c"):
            await publisher.publish(CANDIDATE_EVENTS, key, f"{key}:{number}".encode())
    worker = pipeline(kafka_settings, publisher, handle)
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: sum(map(len, seen.values())) == 90, message="90 records")
    worker.stop()
    await task
    await publisher.stop()

    for key in ("a", "b", "c"):
        assert seen[key] == list(range(30))


async def test_commits_only_handled_records(kafka_settings: KafkaSettings) -> None:
    publisher = await start(kafka_settings)
    for number in range(10):
        await publisher.publish(CANDIDATE_EVENTS, "same-key", str(number).encode())
    handled: list[str] = []
    blocker = asyncio.Event()

    async def stop_at_five(value: str, record: ConsumerRecord[bytes, bytes]) -> None:
        if value == "5":
            await blocker.wait()  # never set: record 5 is in flight at shutdown
        handled.append(value)

    first = pipeline(kafka_settings, publisher, stop_at_five)
    task = asyncio.create_task(first.run(grace_seconds=0.1))
    await wait_until(lambda: len(handled) == 5, message="five records")
    first.stop()
    await task

    redelivered: list[str] = []

    async def record_all(value: str, record: ConsumerRecord[bytes, bytes]) -> None:
        redelivered.append(value)

    second = pipeline(kafka_settings, publisher, record_all)
    task = asyncio.create_task(second.run())
    await wait_until(lambda: len(redelivered) == 5, message="redelivery of 5..9")
    second.stop()
    await task
    await publisher.stop()

    assert handled == ["0", "1", "2", "3", "4"]
    assert redelivered == ["5", "6", "7", "8", "9"]


async def test_retries_then_succeeds(kafka_settings: KafkaSettings) -> None:
    publisher = await start(kafka_settings)
    await publisher.publish(CANDIDATE_EVENTS, "k", b"flaky")
    attempts: list[int] = []

    async def fail_twice(value: str, record: ConsumerRecord[bytes, bytes]) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise Flaky("Greenhouse answered 503")

    worker = pipeline(kafka_settings, publisher, fail_twice)
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: worker.handled == 1, message="handled after retries")
    worker.stop()
    await task
    dead = await read_to_end(kafka_settings, DEAD_LETTER)
    await publisher.stop()

    assert len(attempts) == 3
    assert dead == []


async def test_poison_goes_to_dead_letter(kafka_settings: KafkaSettings) -> None:
    publisher = await start(kafka_settings)
    await publisher.publish(CANDIDATE_EVENTS, "k", b"poison")
    await publisher.publish(CANDIDATE_EVENTS, "k", b"fine")
    handled: list[str] = []

    async def handle(value: str, record: ConsumerRecord[bytes, bytes]) -> None:
        handled.append(value)

    worker = pipeline(kafka_settings, publisher, handle)
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: handled == ["fine"], message="the record after the poison")
    worker.stop()
    await task

    settings = kafka_settings
    consumer_records = await read_to_end(settings, DEAD_LETTER)
    await publisher.stop()
    assert [(key, value) for key, value, _p, _o in consumer_records] == [("k", b"poison")]


async def test_dead_letter_headers_say_why(kafka_settings: KafkaSettings) -> None:
    from aiokafka import AIOKafkaConsumer

    publisher = await start(kafka_settings)
    await publisher.publish(CANDIDATE_EVENTS, "k", b"poison")

    async def handle(value: str, record: ConsumerRecord[bytes, bytes]) -> None:
        return None

    worker = pipeline(kafka_settings, publisher, handle)
    task = asyncio.create_task(worker.run())
    consumer = AIOKafkaConsumer(
        topic_name(DEAD_LETTER, kafka_settings.kafka_topic_prefix),
        bootstrap_servers=kafka_settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=15)
    finally:
        await consumer.stop()
        worker.stop()
        await task
        await publisher.stop()
    headers = {key: value.decode() for key, value in record.headers}
    assert headers["dlq-reason"] == "poison record"
    assert headers["dlq-error"] == "InvalidEventError"
    assert headers["dlq-source-topic"] == topic_name(
        CANDIDATE_EVENTS, kafka_settings.kafka_topic_prefix
    )
    assert headers["dlq-source-offset"] == "0"
    assert headers["dlq-attempts"] == "1"


async def test_halts_when_everything_fails(kafka_settings: KafkaSettings) -> None:
    publisher = await start(kafka_settings)
    for _ in range(6):
        await publisher.publish(CANDIDATE_EVENTS, "k", b"poison")

    async def handle(value: str, record: ConsumerRecord[bytes, bytes]) -> None:
        return None

    worker = pipeline(kafka_settings, publisher, handle, max_consecutive_failures=3)
    with pytest.raises(PipelineHaltedError, match="3 records in a row failed"):
        await asyncio.wait_for(worker.run(), timeout=20)
    dead = await read_to_end(kafka_settings, DEAD_LETTER)
    await publisher.stop()
    assert len(dead) == 3
