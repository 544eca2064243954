"""IntegrationWatch: each check sets readiness, the gauge and the connect:<service> record."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from devstack.fake_greenhouse import FakeGreenhouse
from shared.connect import REQUIRED_SCOPES
from shared.greenhouse import HarvestClient
from shared.health import Health
from shared.integration import IntegrationWatch
from shared.kafka import Publisher, ensure_topics, read_compacted
from shared.settings import KafkaSettings
from shared.topics import INTEGRATION_STATE

pytestmark = pytest.mark.integration


async def check_with(scopes: Any, kafka_settings: KafkaSettings) -> tuple[Health, dict[str, Any]]:
    await ensure_topics(kafka_settings, [INTEGRATION_STATE])
    publisher = Publisher(kafka_settings)
    await publisher.start()
    health = Health()
    with FakeGreenhouse(scopes=scopes) as fake:
        async with HarvestClient(fake.settings()) as client:
            watch = IntegrationWatch("tester", client, publisher, health, interval_seconds=0)
            await watch.check()
    await publisher.stop()
    table = await read_compacted(kafka_settings, INTEGRATION_STATE)
    return health, orjson.loads(table["connect:tester"])


async def test_connected_is_ready(kafka_settings: KafkaSettings) -> None:
    health, report = await check_with("all", kafka_settings)
    assert report["status"] == "Connected"
    assert health.readiness()["checks"]["greenhouse"] is True
    gauge = REGISTRY.get_sample_value("greenguard_integration_connected", {"service": "tester"})
    assert gauge == 1


async def test_missing_scope_is_not_ready(kafka_settings: KafkaSettings) -> None:
    granted = [scope for scope in REQUIRED_SCOPES if scope != "harvest:notes:create"]
    health, report = await check_with(granted, kafka_settings)
    assert report["status"] == "Failed"
    assert report["missing_scopes"] == ["harvest:notes:create"]
    readiness = health.readiness()
    assert readiness["ready"] is False
    assert "harvest:notes:create" in readiness["failing"]["greenhouse"]
    gauge = REGISTRY.get_sample_value("greenguard_integration_connected", {"service": "tester"})
    assert gauge == 0
