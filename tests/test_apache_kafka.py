"""The same Kafka plumbing against Apache Kafka, where a Docker engine can start one.

Opt-in by nature: without a Docker engine (as on the project's CI machines) every test here is
skipped with the reason. testcontainers' KafkaContainer raises in its constructor when no engine
responds, so the check pings the engine first.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from shared.consumer import ConsumerPipeline, PipelineOptions
from shared.health import Health
from shared.kafka import Publisher, ensure_topics, read_to_end
from shared.settings import KafkaSettings
from shared.topics import CANDIDATE_EVENTS, DEAD_LETTER, topic_name
from tests.helpers import wait_until

pytestmark = pytest.mark.docker


def docker_unavailable_reason() -> str | None:
    """Return why Apache Kafka cannot be started here, or None when a Docker engine responds."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        return f"no Docker engine ({host} does not exist); Apache Kafka tests skipped"
    import docker

    try:
        client = docker.from_env()
    except Exception as exc:  # noqa: BLE001 (any failure means: no engine to use)
        return f"no Docker engine responds ({type(exc).__name__}); Apache Kafka tests skipped"
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        return f"no Docker engine responds ({type(exc).__name__}); Apache Kafka tests skipped"
    finally:
        client.close()
    return None


@pytest.fixture(scope="module")
def apache_kafka() -> Iterator[str]:
    reason = docker_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer() as container:
        yield container.get_bootstrap_server()


@pytest.fixture
def apache_settings(apache_kafka: str, topic_prefix: str) -> KafkaSettings:
    # Apache Kafka supports the idempotent producer, so it stays on, as in production.
    return KafkaSettings.load(
        kafka_bootstrap_servers=apache_kafka,
        kafka_topic_prefix=topic_prefix,
        kafka_topic_partitions=3,
        kafka_fetch_max_wait_ms=50,
        kafka_session_timeout_ms=6_000,
        kafka_heartbeat_interval_ms=1_000,
    )


async def test_publish_and_read_back(apache_settings: KafkaSettings) -> None:
    await ensure_topics(apache_settings, [CANDIDATE_EVENTS])
    publisher = Publisher(apache_settings)
    await publisher.start()
    for number in range(20):
        await publisher.publish(CANDIDATE_EVENTS, str(number % 4), str(number).encode())
    await publisher.stop()
    records = await read_to_end(apache_settings, CANDIDATE_EVENTS)
    assert sorted(int(value or b"0") for _key, value, _p, _o in records) == list(range(20))


async def test_pipeline_commits_after_effect(apache_settings: KafkaSettings) -> None:
    await ensure_topics(apache_settings, [CANDIDATE_EVENTS, DEAD_LETTER])
    publisher = Publisher(apache_settings)
    await publisher.start()
    for number in range(10):
        await publisher.publish(CANDIDATE_EVENTS, "k", str(number).encode())
    seen: list[str] = []

    async def handle(value: str, record: ConsumerRecord[bytes, bytes]) -> None:
        seen.append(value)

    def decode(record: ConsumerRecord[bytes, bytes]) -> str:
        return bytes(record.value or b"").decode()

    options: dict[str, Any] = {"commit_interval_seconds": 0.1}
    pipeline = ConsumerPipeline(
        apache_settings,
        topics=[topic_name(CANDIDATE_EVENTS, apache_settings.kafka_topic_prefix)],
        group_id=f"{apache_settings.kafka_topic_prefix}group",
        decode=decode,
        handler=handle,
        publisher=publisher,
        health=Health(),
        options=PipelineOptions(**options),
    )
    task = asyncio.create_task(pipeline.run())
    await wait_until(lambda: len(seen) == 10, timeout=60, message="ten records")
    pipeline.stop()
    await task
    await publisher.stop()
    assert seen == [str(number) for number in range(10)]
