"""``greenguard alerts send`` against the embedded broker."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest

from shared.alerts import parse_alert
from shared.cli import main
from shared.kafka import read_to_end
from shared.settings import KafkaSettings
from shared.topics import VERIFICATION_ALERTS


@pytest.fixture
def kafka_env(monkeypatch: pytest.MonkeyPatch, kafka_options: dict[str, Any]) -> None:
    for name, value in kafka_options.items():
        monkeypatch.setenv(name.upper(), str(value))


def published(settings: KafkaSettings) -> list[tuple[str | None, bytes | None]]:
    records = asyncio.run(read_to_end(settings, VERIFICATION_ALERTS, timeout_seconds=10))
    return [(key, value) for key, value, _partition, _offset in records]


@pytest.mark.integration
@pytest.mark.usefixtures("kafka_env")
def test_send_publishes_alert(
    capsys: pytest.CaptureFixture[str], kafka_settings: KafkaSettings
) -> None:
    status = main(
        [
            "alerts",
            "send",
            "--candidate-id",
            "800000001",
            "--kind",
            "deepfake_suspected",
            "--summary",
            "Face-swap artefacts detected.",
            "--interview-id",
            "510000002",
            "--evidence-url",
            "https://verify.example.invalid/r/1",
        ]
    )

    assert status == 0
    alert_id = capsys.readouterr().out.strip()
    assert uuid.UUID(alert_id)
    records = published(kafka_settings)
    assert len(records) == 1
    key, value = records[0]
    assert key == "800000001"
    alert = parse_alert(value)
    assert alert.id == alert_id
    assert alert.kind == "deepfake_suspected"
    assert alert.severity == "critical"
    assert alert.interview_id == 510000002
    assert alert.application_id is None


@pytest.mark.integration
@pytest.mark.usefixtures("kafka_env")
def test_send_uses_given_id_and_severity(
    capsys: pytest.CaptureFixture[str], kafka_settings: KafkaSettings
) -> None:
    status = main(
        [
            "alerts",
            "send",
            "--candidate-id",
            "7",
            "--kind",
            "verified",
            "--summary",
            "Verified.",
            "--severity",
            "warning",
            "--id",
            "ops-1",
            "--occurred-at",
            "2026-01-12T15:04:05+02:00",
        ]
    )

    assert status == 0
    assert capsys.readouterr().out.strip() == "ops-1"
    document = orjson.loads(published(kafka_settings)[0][1] or b"")
    assert document["severity"] == "warning"
    assert document["occurred_at"] == "2026-01-12T13:04:05.000Z"


def test_send_rejects_invalid_alert(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "alerts",
            "send",
            "--candidate-id",
            "0",
            "--kind",
            "failed",
            "--summary",
            "Failed.",
        ]
    )

    assert status == 2
    error = capsys.readouterr().err
    assert "alert field 'candidate_id' must be a positive 64-bit integer" in error


def test_send_rejects_ftp_evidence(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "alerts",
            "send",
            "--candidate-id",
            "5",
            "--kind",
            "failed",
            "--summary",
            "Failed.",
            "--evidence-url",
            "ftp://verify.example.invalid",
        ]
    )

    assert status == 2
    assert "evidence_url' must be an http or https URL" in capsys.readouterr().err


def test_send_rejects_unknown_kind(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["alerts", "send", "--candidate-id", "5", "--kind", "odd", "--summary", "x"])

    assert exit_info.value.code == 2
    assert "invalid choice: 'odd'" in capsys.readouterr().err
