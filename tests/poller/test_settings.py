"""Poller settings: defaults, the lease they imply and their validation."""

from __future__ import annotations

import pytest

from services.poller.settings import RECORD_RESOURCES, PollerSettings
from shared.errors import ConfigurationError


def test_defaults() -> None:
    settings = PollerSettings.load()

    assert settings.greenhouse_rate_limit_share == 0.5
    assert settings.health_port == 8081
    assert settings.consumer_group == "greenguard-poller"
    assert settings.interval_seconds("interviews") == 30.0
    assert settings.poller_overlap_seconds == 600.0
    assert settings.poller_lookback_hours == 24.0
    assert settings.poller_lookahead_hours == 72.0


def test_every_record_resource_has_interval() -> None:
    settings = PollerSettings.load()

    for resource in RECORD_RESOURCES:
        assert settings.interval_seconds(resource) >= 60


def test_group_id_takes_topic_prefix() -> None:
    settings = PollerSettings.load(kafka_topic_prefix="staging.")

    assert settings.group_id == "staging.greenguard-poller"


def test_default_lease_allows_takeover_within_a_minute() -> None:
    settings = PollerSettings.load()

    assert settings.lease_seconds == 8.0
    assert settings.kafka_session_timeout_ms <= 30_000


def test_heartbeat_too_slow_for_session_rejected() -> None:
    with pytest.raises(ConfigurationError, match="KAFKA_SESSION_TIMEOUT_MS"):
        PollerSettings.load(kafka_session_timeout_ms=2_000, kafka_heartbeat_interval_ms=1_000)


def test_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLLER_INTERVIEWS_INTERVAL_SECONDS", "5")
    monkeypatch.setenv("GREENHOUSE_RATE_LIMIT_SHARE", "0.25")

    settings = PollerSettings.load()

    assert settings.interval_seconds("interviews") == 5.0
    assert settings.greenhouse_rate_limit_share == 0.25
