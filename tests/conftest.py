"""Fixtures shared by the whole suite: the embedded broker and per-test Kafka settings."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devstack.broker import EmbeddedBroker
from shared.settings import KafkaSettings


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """One embedded Tansu broker for the session; tests isolate themselves by topic prefix."""
    embedded = EmbeddedBroker()
    embedded.start()
    yield embedded
    embedded.stop()


def kafka_test_options(bootstrap_servers: str, prefix: str) -> dict[str, Any]:
    """Return the Kafka settings a test process uses against the embedded broker."""
    return {
        "kafka_bootstrap_servers": bootstrap_servers,
        "kafka_enable_idempotence": False,
        "kafka_topic_prefix": prefix,
        "kafka_topic_partitions": 3,
        "kafka_fetch_max_wait_ms": 20,
        "kafka_session_timeout_ms": 2_000,
        "kafka_heartbeat_interval_ms": 300,
        "kafka_publish_timeout_seconds": 3.0,
    }


@pytest.fixture
def topic_prefix() -> str:
    """A topic prefix unique to the test, so that no two tests share a topic or group."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def kafka_options(broker: EmbeddedBroker, topic_prefix: str) -> dict[str, Any]:
    return kafka_test_options(broker.bootstrap_servers, topic_prefix)


@pytest.fixture
def kafka_settings(kafka_options: dict[str, Any]) -> KafkaSettings:
    return KafkaSettings.load(**kafka_options)


@pytest.fixture
def make_settings(kafka_options: dict[str, Any]) -> Callable[..., Any]:
    """Build any settings class with this test's Kafka options plus overrides."""

    def build(cls: type[Any], **overrides: Any) -> Any:
        return cls.load(**{**kafka_options, **overrides})

    return build
