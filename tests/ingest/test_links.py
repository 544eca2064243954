"""The secure link route: redirect on a genuine token, an error page on anything else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from services.ingest.links import link_routes
from shared.errors import BrokerUnavailableError
from shared.events import utc_now
from shared.kafka import Publisher, ensure_topics, read_to_end
from shared.links import sign_link
from shared.settings import KafkaSettings
from shared.topics import PROTECTED_MEETINGS

KEY = "route-test-key-" + "x" * 20
MEETING = "https://us02web.zoom.us/j/85512345678?pwd=abc"


class RecordingPublisher:
    """Stands in for Publisher: records what would be published, or fails like a down broker."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.records: list[tuple[Any, str | None, bytes | None]] = []

    async def publish(self, spec: Any, key: str | None, value: bytes | None) -> tuple[int, int]:
        if self.fail:
            raise BrokerUnavailableError("Kafka did not acknowledge the write")
        self.records.append((spec, key, value))
        return 0, len(self.records)


def make_token(*, expires_in: timedelta = timedelta(hours=2), key: str = KEY) -> str:
    return sign_link(
        [key],
        interview_id=510000002,
        candidate_id=800000001,
        url=MEETING,
        expires_at=utc_now() + expires_in,
    )


def client_for(publisher: Any) -> httpx.AsyncClient:
    app = Starlette(routes=link_routes([KEY], publisher))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_valid_token_redirects_and_records() -> None:
    publisher = RecordingPublisher()
    async with client_for(publisher) as client:
        response = await client.get(f"/l/{make_token()}")

    assert response.status_code == 302
    assert response.headers["location"] == MEETING
    assert response.headers["referrer-policy"] == "no-referrer"
    assert len(publisher.records) == 1
    spec, key, value = publisher.records[0]
    assert spec is PROTECTED_MEETINGS
    assert key == "510000002"
    document = orjson.loads(value or b"")
    assert document["type"] == "interview.link_opened"
    assert document["candidate_id"] == 800000001


async def test_broker_down_still_redirects() -> None:
    async with client_for(RecordingPublisher(fail=True)) as client:
        response = await client.get(f"/l/{make_token()}")

    assert response.status_code == 302
    assert response.headers["location"] == MEETING


async def test_head_request_publishes_nothing() -> None:
    publisher = RecordingPublisher()
    async with client_for(publisher) as client:
        response = await client.head(f"/l/{make_token()}")

    assert response.status_code == 302
    assert publisher.records == []


def tampered(token: str) -> str:
    payload, signature = token.split(".")
    return f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


@pytest.mark.parametrize(
    ("build", "status"),
    [
        (lambda: tampered(make_token()), 404),
        (lambda: make_token(key="another-key-" + "y" * 30), 404),
        (lambda: make_token(expires_in=timedelta(seconds=-1)), 410),
        (lambda: "not-a-token", 400),
        (lambda: "a" * 5000 + ".b", 400),
    ],
    ids=["tampered", "unknown-key", "expired", "malformed", "too-long"],
)
async def test_bad_token_gets_error_page(build: Any, status: int) -> None:
    token = build()
    publisher = RecordingPublisher()
    async with client_for(publisher) as client:
        response = await client.get(f"/l/{token}")

    assert response.status_code == status
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert token not in response.text
    assert token.split(".")[0] not in response.text
    assert publisher.records == []


@pytest.mark.integration
async def test_link_opened_reaches_topic(kafka_settings: KafkaSettings) -> None:
    await ensure_topics(kafka_settings, [PROTECTED_MEETINGS])
    publisher = Publisher(kafka_settings)
    await publisher.start()
    try:
        async with client_for(publisher) as client:
            response = await client.get(f"/l/{make_token()}")
    finally:
        await publisher.stop()

    assert response.status_code == 302
    records = await read_to_end(kafka_settings, PROTECTED_MEETINGS)
    assert [key for key, _value, _partition, _offset in records] == ["510000002"]
