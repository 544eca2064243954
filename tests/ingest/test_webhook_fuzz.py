"""Fuzz the webhook endpoint: random bodies, headers and signatures.

Properties: no response is a 5xx (the broker is up, so not even 503); a request without a valid
signature never publishes; every validly signed JSON object with an action is published once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest import signature
from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from shared.events import Envelope
from shared.kafka import read_to_end
from shared.topics import CANDIDATE_EVENTS, ORG_EVENTS
from tests.asgi import serve_in_thread

pytestmark = pytest.mark.integration

SECRET = b"fuzz-secret"
PATH = "/webhooks/greenhouse"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
actions = st.sampled_from(
    ["update_candidate", "interview_deleted", "job_created", "ping", "", "x" * 300]
) | st.text(max_size=40)
documents = st.fixed_dictionaries(
    {"action": actions | json_values}, optional={"payload": json_values}
)
bodies = st.binary(max_size=2048) | documents.map(
    lambda document: json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
)
signatures = st.sampled_from(["valid", "missing", "wrong", "garbage", "other-secret"])
event_ids = st.none() | st.text(max_size=300)


@pytest.fixture(scope="module")
def fuzz_target(broker: Any) -> Iterator[tuple[httpx.Client, IngestSettings, list[str]]]:
    from tests.conftest import kafka_test_options

    settings = IngestSettings.load(
        **kafka_test_options(broker.bootstrap_servers, "fuzz."),
        greenhouse_webhook_secret=SECRET.decode(),
        webhook_max_body_bytes=1024 + 512,
    )
    published_ids: list[str] = []
    with serve_in_thread(create_app(settings)) as url, httpx.Client(base_url=url) as client:
        yield client, settings, published_ids


def header_for(kind: str, body: bytes) -> dict[str, str]:
    if kind == "valid":
        return {"Signature": signature.sign(body, SECRET)}
    if kind == "wrong":
        return {"Signature": signature.sign(body + b"x", SECRET)}
    if kind == "garbage":
        return {"Signature": "sha256 not-hex"}
    if kind == "other-secret":
        return {"Signature": signature.sign(body, b"another")}
    return {}


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, kind=signatures, event_id=event_ids)
def test_fuzzed_deliveries(
    fuzz_target: tuple[httpx.Client, IngestSettings, list[str]],
    body: bytes,
    kind: str,
    event_id: str | None,
) -> None:
    client, _settings, published_ids = fuzz_target
    headers = header_for(kind, body)
    if event_id is not None and event_id.isprintable() and event_id.isascii():
        headers["Greenhouse-Event-ID"] = event_id
    response = client.post(PATH, content=body, headers=headers)

    assert response.status_code < 500, response.text
    if kind != "valid":
        assert response.status_code in (401, 413)
    if response.status_code == 200 and response.json()["published"]:
        assert kind == "valid"
        published_ids.append(response.json()["id"])


def test_only_valid_deliveries_published(
    fuzz_target: tuple[httpx.Client, IngestSettings, list[str]],
) -> None:
    # Runs after the fuzz test in this module: what the topics hold is exactly what got 200.
    _client, settings, published_ids = fuzz_target
    stored = [
        Envelope.from_json(value).id
        for spec in (CANDIDATE_EVENTS, ORG_EVENTS)
        for _key, value, _p, _o in asyncio.run(read_to_end(settings, spec))
    ]
    assert published_ids, "the fuzz test published nothing"
    assert sorted(stored) == sorted(published_ids)
