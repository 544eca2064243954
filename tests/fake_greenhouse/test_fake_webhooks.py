"""The webhook sender: Greenhouse's byte format, signature, event id and retry schedule."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devstack.fake_greenhouse import encode_body, sign
from devstack.fake_greenhouse.server import ThreadedServer
from devstack.fake_greenhouse.webhooks import ATTEMPTS

SECRET = "fake-webhook-secret-DO-NOT-USE"


@dataclass
class Receiver:
    """A webhook endpoint that fails the first ``failures`` deliveries with 500, then returns 200."""

    failures: int
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    expected: int = 0

    async def endpoint(self, request: Request) -> Response:
        self.received.append((await request.body(), dict(request.headers)))
        if len(self.received) >= self.expected:
            self.done.set()
        return Response(status_code=500 if len(self.received) <= self.failures else 200)


@pytest.fixture
def receiver_server() -> Iterator[tuple[ThreadedServer, list[Receiver]]]:
    holder: list[Receiver] = []

    async def endpoint(request: Request) -> Response:
        return await holder[0].endpoint(request)

    server = ThreadedServer(Starlette(routes=[Route("/hook", endpoint, methods=["POST"])]))
    server.start()
    yield server, holder
    server.stop()


def _wait_for_status(http: httpx.Client, delivery_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        delivery: dict[str, Any] = http.get(f"/admin/webhooks/{delivery_id}").json()
        if delivery["status"] != "pending":
            return delivery
        time.sleep(0.02)
    raise AssertionError("the delivery did not finish within 10 s")


def test_body_matches_greenhouse_bytes() -> None:
    body = encode_body("interview_deleted", {"interview": {"id": 510000001}})

    assert body == b'{"action":"interview_deleted","payload":{"interview":{"id":510000001}}}'
    assert sign(SECRET, body) == (
        "sha256 4eecadfebbff08246b48cacc7fd7b79152417ce30c3a1b18641645a6607afe52"
    )


def test_body_escapes_html_characters() -> None:
    body = encode_body("job_updated", {"notes": "<p>Pay & perks</p>", "city": "Zürich"})

    assert b"\\u003cp\\u003ePay \\u0026 perks\\u003c/p\\u003e" in body
    assert "Zürich".encode() in body
    assert b'": ' not in body
    assert b', "' not in body


def test_delivery_retried_until_200(
    http: httpx.Client, receiver_server: tuple[ThreadedServer, list[Receiver]]
) -> None:
    server, holder = receiver_server
    receiver = Receiver(failures=2, expected=3)
    holder.append(receiver)

    accepted = http.post(
        "/admin/webhooks",
        json={
            "url": f"{server.url}/hook",
            "action": "candidate_stage_change",
            "payload": {"application": {"id": 1, "note": "<b>x</b>"}},
            "secret": SECRET,
            "base_delay_seconds": 0.001,
        },
    ).json()
    assert receiver.done.wait(10)
    delivery = _wait_for_status(http, accepted["id"])

    assert delivery["status"] == "delivered"
    assert [attempt.get("status") for attempt in delivery["attempts"]] == [500, 500, 200]
    event_ids = {headers["greenhouse-event-id"] for _, headers in receiver.received}
    assert event_ids == {accepted["event_id"]}
    raw, headers = receiver.received[-1]
    digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert headers["signature"] == f"sha256 {digest}"
    assert headers["content-type"] == "application/json"
    assert b"\\u003cb\\u003e" in raw


def test_delivery_gives_up_after_seven_attempts(
    http: httpx.Client, receiver_server: tuple[ThreadedServer, list[Receiver]]
) -> None:
    server, holder = receiver_server
    receiver = Receiver(failures=100, expected=ATTEMPTS)
    holder.append(receiver)

    accepted = http.post(
        "/admin/webhooks",
        json={
            "url": f"{server.url}/hook",
            "action": "ping",
            "payload": {},
            "secret": SECRET,
            "base_delay_seconds": 0.001,
        },
    ).json()
    assert receiver.done.wait(10)
    delivery = _wait_for_status(http, accepted["id"])

    assert delivery["status"] == "failed"
    assert len(delivery["attempts"]) == ATTEMPTS == 7
