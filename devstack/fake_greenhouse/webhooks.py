"""A webhook sender that delivers the way Greenhouse does.

The body is compact JSON, ``{"action": ..., "payload": ...}``, with ``<``, ``>`` and ``&``
escaped as ``\\u003c``, ``\\u003e`` and ``\\u0026`` and other characters left as UTF-8. It is
signed with ``Signature: sha256 <hex HMAC-SHA256(secret, body)>`` and carries a
``Greenhouse-Event-ID``, kept the same across the retries of one delivery. Anything but HTTP 200
(a timeout, a network error, another status) is retried. Greenhouse makes 7 attempts with 1, 15,
60, 120, 240 and 480 minutes between them, and the fake waits that many times a base delay.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from typing import Any

import httpx

from devstack.fake_greenhouse.state import FakeState, iso_now

GAPS_IN_MINUTES = (1, 15, 60, 120, 240, 480)
ATTEMPTS = len(GAPS_IN_MINUTES) + 1
# NOTE: Greenhouse documents no delivery timeout; this one is a guess.
ATTEMPT_TIMEOUT_SECONDS = 10.0


def encode_body(action: str, payload: Any) -> bytes:
    """Serialize a delivery body exactly as Greenhouse sends it."""
    text = json.dumps(
        {"action": action, "payload": payload}, separators=(",", ":"), ensure_ascii=False
    )
    # These characters only occur inside JSON strings, where the escape means the same.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode("utf-8")


def sign(secret: str, body: bytes) -> str:
    """Return the ``Signature`` header value for ``body``."""
    return "sha256 " + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookSender:
    """Delivers webhooks in background tasks on the server's event loop."""

    def __init__(self, state: FakeState) -> None:
        self._state = state
        self._http: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Open the HTTP client."""
        self._http = httpx.AsyncClient(timeout=ATTEMPT_TIMEOUT_SECONDS)

    async def stop(self) -> None:
        """Cancel deliveries still waiting to retry and close the client; safe to call twice."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def send(
        self,
        url: str,
        action: str,
        payload: Any,
        secret: str,
        *,
        event_id: str | None = None,
        base_delay_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Start a delivery and return its record, which the admin API shows as it progresses."""
        if self._http is None:
            raise RuntimeError("the webhook sender is not started")
        body = encode_body(action, payload)
        delivery: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "url": url,
            "action": action,
            "event_id": event_id or str(uuid.uuid4()),
            "status": "pending",
            "attempts": [],
        }
        with self._state.lock:
            if base_delay_seconds is None:
                base_delay_seconds = self._state.config.webhook_base_delay_seconds
            self._state.deliveries[delivery["id"]] = delivery
        headers = {
            "Content-Type": "application/json",
            "Signature": sign(secret, body),
            "Greenhouse-Event-ID": delivery["event_id"],
            "User-Agent": "Greenhouse-Webhooks (fake)",
        }
        task = asyncio.create_task(self._deliver(delivery, body, headers, base_delay_seconds))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return delivery

    async def _deliver(
        self, delivery: dict[str, Any], body: bytes, headers: dict[str, str], base_delay: float
    ) -> None:
        assert self._http is not None
        for number in range(1, ATTEMPTS + 1):
            outcome: dict[str, Any] = {"number": number, "at": iso_now()}
            try:
                response = await self._http.post(delivery["url"], content=body, headers=headers)
                outcome["status"] = response.status_code
            except httpx.HTTPError as exc:
                outcome["error"] = type(exc).__name__
            with self._state.lock:
                delivery["attempts"].append(outcome)
                if outcome.get("status") == 200:
                    delivery["status"] = "delivered"
                    return
                if number == ATTEMPTS:
                    delivery["status"] = "failed"
                    return
            await asyncio.sleep(GAPS_IN_MINUTES[number - 1] * base_delay)
