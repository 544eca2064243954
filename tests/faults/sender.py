"""A webhook sender that redelivers the way Greenhouse does, on a compressed schedule.

Greenhouse makes up to 7 attempts per delivery, 1, 15, 60, 120, 240 and 480 minutes apart, and
counts anything but HTTP 200 (another status, a time-out, a refused connection) as a failure.
Each delivery keeps its ``Greenhouse-Event-ID`` across attempts. Here one minute of that schedule
lasts ``minute_seconds``, so a suite goes through the whole retry schedule in seconds.

The sender records, per delivery, every attempt's outcome and whether it was acknowledged, so a
test can check that each acknowledged event id reached Kafka.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from devstack.fake_greenhouse.webhooks import GAPS_IN_MINUTES, encode_body, sign

ATTEMPTS = len(GAPS_IN_MINUTES) + 1


@dataclass(frozen=True)
class Delivery:
    """One webhook to deliver: its event id, its action and the topic it should land on."""

    event_id: str
    action: str
    payload: dict[str, object]
    topic: str


@dataclass
class DeliveryCounts:
    """What the sender saw, for the assertions and the report."""

    sent: int = 0
    attempts: int = 0
    redeliveries: int = 0
    acknowledged: int = 0
    given_up: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    # Event ids acknowledged with 200, with the topic each should have reached.
    acknowledged_ids: dict[str, str] = field(default_factory=dict)
    given_up_ids: list[str] = field(default_factory=list)


class RedeliveringSender:
    """Sends deliveries with ``concurrency`` in flight, retrying each on Greenhouse's schedule."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        concurrency: int = 16,
        minute_seconds: float = 0.2,
        attempt_timeout_seconds: float = 10.0,
    ) -> None:
        self._url = url
        self._secret = secret
        self._concurrency = concurrency
        self._minute_seconds = minute_seconds
        self._timeout = attempt_timeout_seconds
        self.counts = DeliveryCounts()
        self.started = 0
        self.finished = 0

    async def send_all(
        self,
        deliveries: list[Delivery],
        rate_per_second: float,
        hold: Callable[[int], Awaitable[None]] | None = None,
    ) -> DeliveryCounts:
        """Start deliveries at ``rate_per_second``; return once each was acknowledged or given up.

        At most ``concurrency`` attempts are in flight, and a delivery waiting for its next
        attempt takes no slot, as in Greenhouse's retry queue. ``hold(index)`` is awaited before
        each new delivery, so that a test can keep the load from running ahead of its faults.
        """
        slots = asyncio.Semaphore(self._concurrency)
        limits = httpx.Limits(max_connections=self._concurrency)
        loop = asyncio.get_running_loop()
        started = loop.time()
        client = httpx.AsyncClient(timeout=self._timeout, limits=limits)
        async with client, asyncio.TaskGroup() as group:
            for index, delivery in enumerate(deliveries):
                if hold is not None:
                    before = loop.time()
                    await hold(index)
                    started += loop.time() - before  # resume the pace, no catch-up burst
                due = started + index / rate_per_second
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())  # pacing, not a wait on a state
                self.started += 1
                group.create_task(self._deliver(client, slots, delivery))
        return self.counts

    async def _deliver(
        self, client: httpx.AsyncClient, slots: asyncio.Semaphore, delivery: Delivery
    ) -> None:
        body = encode_body(delivery.action, delivery.payload)
        headers = {
            "Content-Type": "application/json",
            "Signature": sign(self._secret, body),
            "Greenhouse-Event-ID": delivery.event_id,
        }
        counts = self.counts
        counts.sent += 1
        for number in range(1, ATTEMPTS + 1):
            counts.attempts += 1
            if number > 1:
                counts.redeliveries += 1
            async with slots:
                outcome = await self._attempt(client, body, headers)
            counts.statuses[outcome] += 1
            if outcome == "200":
                counts.acknowledged += 1
                counts.acknowledged_ids[delivery.event_id] = delivery.topic
                self.finished += 1
                return
            if number < ATTEMPTS:
                await asyncio.sleep(GAPS_IN_MINUTES[number - 1] * self._minute_seconds)
        counts.given_up += 1
        counts.given_up_ids.append(delivery.event_id)
        self.finished += 1

    async def _attempt(
        self, client: httpx.AsyncClient, body: bytes, headers: dict[str, str]
    ) -> str:
        try:
            response = await client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return str(response.status_code)
