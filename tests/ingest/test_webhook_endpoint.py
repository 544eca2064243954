"""The webhook endpoint over real HTTP, publishing to the embedded broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from devstack.broker import EmbeddedBroker
from services.ingest import signature
from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from shared.events import Envelope
from shared.kafka import ensure_topics, read_to_end
from shared.topics import CANDIDATE_EVENTS, ORG_EVENTS, TopicSpec
from tests.asgi import serve
from tests.conftest import kafka_test_options
from tests.helpers import wait_until
from tests.ingest.test_mapping import EXPECTED

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent.parent / "data" / "webhooks"
SECRET = "fake-webhook-secret-DO-NOT-USE"
PATH = "/webhooks/greenhouse"


def signed(body: bytes, secret: str = SECRET, event_id: str | None = None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Signature": signature.sign(body, secret.encode()),
    }
    if event_id:
        headers["Greenhouse-Event-ID"] = event_id
    return headers


@pytest.fixture
async def ingest(
    kafka_options: dict[str, Any],
) -> AsyncIterator[tuple[httpx.AsyncClient, IngestSettings]]:
    settings = IngestSettings.load(
        **kafka_options, greenhouse_webhook_secret=SECRET, webhook_max_body_bytes=8192
    )
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        yield client, settings


async def records(settings: IngestSettings, spec: TopicSpec) -> list[tuple[str | None, Envelope]]:
    return [
        (key, Envelope.from_json(value))
        for key, value, _partition, _offset in await read_to_end(settings, spec)
    ]


async def test_every_sample_lands_on_its_topic(
    ingest: tuple[httpx.AsyncClient, IngestSettings],
) -> None:
    client, settings = ingest
    for name in sorted(EXPECTED):
        body = (DATA / name).read_bytes()
        response = await client.post(
            PATH, content=body, headers=signed(body, event_id=f"evt-{name}")
        )
        assert response.status_code == 200, (name, response.text)
        assert response.json()["published"] is True

    by_id = {}
    for spec in (CANDIDATE_EVENTS, ORG_EVENTS):
        for stored_key, envelope in await records(settings, spec):
            by_id[envelope.id] = (spec, stored_key, envelope)
    assert len(by_id) == len(EXPECTED)
    for name, (topic, key, event_type, candidate_id, application_id) in EXPECTED.items():
        stored_topic, stored_key, envelope = by_id[f"evt-{name}"]
        assert stored_topic is topic
        document = orjson.loads((DATA / name).read_bytes())
        assert stored_key == key
        assert envelope.type == event_type
        assert envelope.source == "webhook"
        assert envelope.action == document["action"]
        assert envelope.candidate_id == candidate_id
        assert envelope.application_id == application_id
        assert envelope.data == document["payload"]
        assert envelope.schema_version == 1
    org_types = {envelope.type for _key, envelope in await records(settings, ORG_EVENTS)}
    assert org_types == {"job.created", "job_post.updated"}


async def test_event_headers_repeat_id_and_type(
    ingest: tuple[httpx.AsyncClient, IngestSettings],
) -> None:
    from aiokafka import AIOKafkaConsumer

    client, settings = ingest
    body = (DATA / "webhook-update_candidate.json").read_bytes()
    await client.post(PATH, content=body, headers=signed(body, event_id="evt-headers"))
    consumer = AIOKafkaConsumer(
        settings.kafka_topic_prefix + CANDIDATE_EVENTS.name,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert dict(record.headers) == {"event-id": b"evt-headers", "event-type": b"candidate.updated"}


async def test_ping_publishes_nothing(ingest: tuple[httpx.AsyncClient, IngestSettings]) -> None:
    client, settings = ingest
    body = (DATA / "webhook-ping.json").read_bytes()
    response = await client.post(PATH, content=body, headers=signed(body))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "published": False}
    assert await records(settings, ORG_EVENTS) == []
    assert await records(settings, CANDIDATE_EVENTS) == []


async def test_non_ascii_names_verify(ingest: tuple[httpx.AsyncClient, IngestSettings]) -> None:
    client, settings = ingest
    text = '{"action":"update_candidate","payload":{"candidate":{"id":42,"first_name":"Zoë","last_name":"Ångström-Łukasz 李"}}}'
    body = text.encode("utf-8")
    response = await client.post(PATH, content=body, headers=signed(body))
    assert response.status_code == 200
    [(key, envelope)] = await records(settings, CANDIDATE_EVENTS)
    assert key == "42"
    assert envelope.data["candidate"]["first_name"] == "Zoë"


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        (b'{"action":"update_candidate","payload":{}}', {}, 401, "invalid_signature"),
        (
            b'{"action":"update_candidate","payload":{}}',
            {"Signature": "sha256 " + "0" * 64},
            401,
            "invalid_signature",
        ),
        (b"{not json", None, 400, "invalid_json"),
        (b'{"payload":{}}', None, 400, "missing_action"),
        (b'{"action":""}', None, 400, "missing_action"),
        (b'["action"]', None, 400, "missing_action"),
        (
            b'{"action":' + b'"x"' + b"," + b'"pad":"' + b"a" * 9000 + b'"}',
            None,
            413,
            "body_too_large",
        ),
    ],
)
async def test_bad_input_publishes_nothing(
    ingest: tuple[httpx.AsyncClient, IngestSettings],
    body: bytes,
    headers: dict[str, str] | None,
    status: int,
    error: str,
) -> None:
    client, settings = ingest
    response = await client.post(
        PATH, content=body, headers=signed(body) if headers is None else headers
    )
    assert response.status_code == status
    assert response.json()["error"] == error
    assert await records(settings, CANDIDATE_EVENTS) == []
    assert await records(settings, ORG_EVENTS) == []


async def test_chunked_oversized_body_rejected(
    ingest: tuple[httpx.AsyncClient, IngestSettings],
) -> None:
    client, _settings = ingest

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    response = await client.post(PATH, content=chunks(), headers={"Signature": "sha256 00"})
    assert response.status_code == 413


async def test_wrong_method_and_path(ingest: tuple[httpx.AsyncClient, IngestSettings]) -> None:
    client, _settings = ingest
    assert (await client.get(PATH)).status_code == 405
    assert (await client.post("/webhooks/other", content=b"{}")).status_code == 404


async def test_rotated_secrets_both_accepted(kafka_options: dict[str, Any]) -> None:
    settings = IngestSettings.load(
        **kafka_options, greenhouse_webhook_secret="old-secret, new-secret"
    )
    body = (DATA / "webhook-update_candidate.json").read_bytes()
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        for secret in ("old-secret", "new-secret"):
            response = await client.post(PATH, content=body, headers=signed(body, secret))
            assert response.status_code == 200
        response = await client.post(PATH, content=body, headers=signed(body, "third"))
        assert response.status_code == 401


async def test_health_endpoints(ingest: tuple[httpx.AsyncClient, IngestSettings]) -> None:
    client, _settings = ingest
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
    metrics = await client.get("/metrics")
    assert "greenguard_webhook_deliveries_total" in metrics.text


async def test_broker_down_gives_503_then_recovers(topic_prefix: str) -> None:
    own_broker = EmbeddedBroker()
    own_broker.start()
    options = {
        **kafka_test_options(own_broker.bootstrap_servers, topic_prefix),
        "kafka_publish_timeout_seconds": 1.0,
    }
    settings = IngestSettings.load(
        **options, greenhouse_webhook_secret=SECRET, readiness_cache_seconds=0
    )
    body = (DATA / "webhook-update_candidate.json").read_bytes()
    try:
        async with (
            serve(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as client,
        ):
            before = await client.post(PATH, content=body, headers=signed(body, event_id="before"))
            assert before.status_code == 200

            own_broker.stop(kill=True)
            down = await client.post(PATH, content=body, headers=signed(body, event_id="outage"))
            assert down.status_code == 503
            assert down.json()["error"] == "broker_unavailable"
            assert (await client.get("/readyz")).status_code == 503

            # The restarted broker stores in memory and comes back empty; Apache Kafka keeps its
            # topics, so recreate them as they would be.
            own_broker.start()
            await ensure_topics(settings, [CANDIDATE_EVENTS])

            async def delivered() -> bool:
                # Greenhouse retries a 503; the producer needs a moment to reconnect.
                response = await client.post(
                    PATH, content=body, headers=signed(body, event_id="after")
                )
                return response.status_code == 200

            await wait_until(delivered, timeout=20, message="a 200 after the broker restart")
            assert (await client.get("/readyz")).status_code == 200
            stored = {envelope.id for _key, envelope in await records(settings, CANDIDATE_EVENTS)}
            assert "after" in stored
            # A write that timed out may still land once the broker is back: the producer keeps
            # retrying it. Greenhouse redelivers it too, so consumers see it at least once.
            assert stored <= {"after", "outage"}
    finally:
        own_broker.stop()


def test_missing_secret_is_a_configuration_error(kafka_options: dict[str, Any]) -> None:
    from shared.errors import ConfigurationError

    settings = IngestSettings.load(**kafka_options)
    with pytest.raises(ConfigurationError, match="GREENHOUSE_WEBHOOK_SECRET"):
        create_app(settings)


@pytest.mark.parametrize(
    ("raw_id", "expected"),
    [
        ('"99999999999999999999999"', None),
        ("99999999999999999999999", None),
        ('"\u00b2"', None),
        ('"42"', 42),
    ],
)
async def test_odd_candidate_ids_still_stored(
    ingest: tuple[httpx.AsyncClient, IngestSettings], raw_id: str, expected: int | None
) -> None:
    client, settings = ingest
    body = ('{"action":"update_candidate","payload":{"candidate":{"id":' + raw_id + "}}}").encode()
    response = await client.post(PATH, content=body, headers=signed(body))
    assert response.status_code == 200
    [(_key, envelope)] = await records(settings, CANDIDATE_EVENTS)
    assert envelope.candidate_id == expected


async def test_deep_nesting_still_stored(
    ingest: tuple[httpx.AsyncClient, IngestSettings],
) -> None:
    # Deeper than orjson writes (255 levels) but within what it reads (1024).
    client, settings = ingest
    nested = "[" * 300 + "]" * 300
    body = ('{"action":"update_candidate","payload":{"deep":' + nested + "}}").encode()
    response = await client.post(PATH, content=body, headers=signed(body))
    assert response.status_code == 200
    [(_key, envelope)] = await records(settings, CANDIDATE_EVENTS)
    depth, node = 0, envelope.data["deep"]
    while node:
        depth, node = depth + 1, node[0]
    assert depth == 299
