"""Fixtures shared by the whole suite: the embedded broker and per-test Kafka settings."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devstack.broker import EmbeddedBroker
from shared.settings import KafkaSettings


@dataclass(frozen=True)
class ApacheKafka:
    """An Apache Kafka broker started by testcontainers, for the opt-in run."""

    bootstrap_servers: str


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker | ApacheKafka]:
    """One broker for the session; tests isolate themselves by topic prefix.

    The embedded Tansu broker by default. With ``GREENGUARD_TEST_BROKER=apache-kafka`` the same
    integration tests run against Apache Kafka in Docker instead, or are skipped with the
    reason where no Docker engine responds.
    """
    if os.environ.get("GREENGUARD_TEST_BROKER") == "apache-kafka":
        from tests.test_apache_kafka import docker_unavailable_reason

        reason = docker_unavailable_reason()
        if reason:
            pytest.skip(reason)
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as container:
            yield ApacheKafka(container.get_bootstrap_server())
        return
    embedded = EmbeddedBroker()
    embedded.start()
    yield embedded
    embedded.stop()


def kafka_test_options(bootstrap_servers: str, prefix: str) -> dict[str, Any]:
    """Return the Kafka settings a test process uses against the session's broker."""
    apache_kafka = os.environ.get("GREENGUARD_TEST_BROKER") == "apache-kafka"
    return {
        "kafka_bootstrap_servers": bootstrap_servers,
        # The embedded broker lacks the idempotent producer; Apache Kafka has it.
        "kafka_enable_idempotence": apache_kafka,
        "kafka_topic_prefix": prefix,
        "kafka_topic_partitions": 3,
        "kafka_fetch_max_wait_ms": 20,
        # Apache Kafka refuses session timeouts under its 6 s group minimum.
        "kafka_session_timeout_ms": 6_000 if apache_kafka else 2_000,
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
