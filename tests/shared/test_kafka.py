"""Kafka plumbing against the embedded broker: reading a topic to its end."""

from __future__ import annotations

import pytest

from shared.errors import BrokerUnavailableError
from shared.kafka import Publisher, ensure_topics, read_to_end
from shared.settings import KafkaSettings
from shared.topics import INTEGRATION_STATE

pytestmark = pytest.mark.integration


async def test_read_to_end_returns_records(kafka_settings: KafkaSettings) -> None:
    await ensure_topics(kafka_settings, [INTEGRATION_STATE])
    publisher = Publisher(kafka_settings)
    await publisher.start()
    try:
        for number in range(5):
            await publisher.publish(INTEGRATION_STATE, f"key-{number}", b"value")
    finally:
        await publisher.stop()

    records = await read_to_end(kafka_settings, INTEGRATION_STATE)

    assert sorted(key or "" for key, _value, _partition, _offset in records) == [
        f"key-{number}" for number in range(5)
    ]


async def test_read_to_end_timeout_is_broker_unavailable(kafka_settings: KafkaSettings) -> None:
    # Callers at start-up (TopicTable, CandidateFields, the poller's state) handle
    # BrokerUnavailableError; a bare TimeoutError crashed the service with a traceback.
    await ensure_topics(kafka_settings, [INTEGRATION_STATE])
    publisher = Publisher(kafka_settings, linger_ms=0)
    await publisher.start()
    try:
        # One batch per record: reading them takes many fetches, far more than a millisecond.
        for number in range(1500):
            await publisher.publish(INTEGRATION_STATE, f"key-{number}", b"x" * 4000)
    finally:
        await publisher.stop()

    with pytest.raises(BrokerUnavailableError, match=r"within 0\.001 s"):
        await read_to_end(kafka_settings, INTEGRATION_STATE, timeout_seconds=0.001)
