"""Rate limiting: the budget keeps callers under the fake's window, and 429 is waited out."""

from __future__ import annotations

import asyncio
import time

import pytest
from harvest_helpers import ClientFactory, RecordingTransport

from devstack.fake_greenhouse import FakeGreenhouse
from devstack.fake_greenhouse.faults import Fault
from shared.errors import GreenhouseRateLimitedError
from shared.greenhouse import HarvestClient, RateBudget


async def test_concurrency_held_under_the_limit(
    fake: FakeGreenhouse, client: HarvestClient
) -> None:
    fake.state.config.update({"rate_limit": 10, "rate_window_seconds": 1.0})
    fake.state.insert("sources", {"name": "LinkedIn"})

    results = await asyncio.gather(*(client.list_all("sources") for _ in range(35)))

    assert all(len(result) == 1 for result in results)
    assert fake.state.status_counts[429] == 0
    assert fake.state.status_counts[200] >= 35


async def test_share_leaves_budget_to_others(
    fake: FakeGreenhouse, make_client: ClientFactory, transport: RecordingTransport
) -> None:
    fake.state.config.update({"rate_limit": 10, "rate_window_seconds": 1.0})

    async with make_client(transport, greenhouse_rate_limit_share=0.5) as harvest:
        await asyncio.gather(*(harvest.list_all("sources") for _ in range(12)))

    remaining = [
        int(headers["x-ratelimit-remaining"])
        for headers in transport.responses
        if "x-ratelimit-remaining" in headers
    ]
    assert len(remaining) == 12
    assert min(remaining) >= 5


async def test_429_waits_retry_after(fake: FakeGreenhouse, client: HarvestClient) -> None:
    fake.state.faults.add(Fault(path_prefix="/v3/jobs", status=429, retry_after=1, count=1))
    started = time.monotonic()

    assert await client.list_all("jobs") == []

    assert time.monotonic() - started >= 0.9
    assert fake.state.request_counts[("GET", "/v3/jobs")] == 2


async def test_429_past_the_attempts_raises(
    fake: FakeGreenhouse, make_client: ClientFactory
) -> None:
    fake.state.faults.add(Fault(path_prefix="/v3/jobs", status=429, retry_after=0.05, count=5))

    async with make_client(greenhouse_max_attempts=2) as harvest:
        with pytest.raises(GreenhouseRateLimitedError):
            await harvest.list_all("jobs")

    assert fake.state.request_counts[("GET", "/v3/jobs")] == 2


async def test_budget_learns_from_headers() -> None:
    now = 1_000.0
    budget = RateBudget(share=1.0, clock=lambda: now)

    await budget.acquire()
    await budget.release(
        {"x-ratelimit-limit": "75", "x-ratelimit-remaining": "40", "x-ratelimit-reset": "1020"}
    )

    assert budget.limit == 75
    assert budget.remaining == 40
    assert budget.reset_at == 1020


async def test_budget_keeps_lower_count_from_late_responses() -> None:
    now = 1_000.0
    budget = RateBudget(share=1.0, clock=lambda: now)
    await budget.acquire()
    await budget.release(
        {"x-ratelimit-limit": "75", "x-ratelimit-remaining": "40", "x-ratelimit-reset": "1020"}
    )

    await budget.acquire()
    await budget.release(
        {"x-ratelimit-limit": "75", "x-ratelimit-remaining": "45", "x-ratelimit-reset": "1020"}
    )

    assert budget.remaining == 39


def test_budget_rejects_share_outside_range() -> None:
    with pytest.raises(ValueError, match="share"):
        RateBudget(share=0)


async def test_window_spent_elsewhere_is_waited_out(
    fake: FakeGreenhouse, client: HarvestClient
) -> None:
    fake.state.config.update({"rate_limit": 3, "rate_window_seconds": 1.0})
    for _ in range(3):
        fake.state.count_request(fake.client_id)  # another process spends the window

    assert await client.list_all("jobs") == []

    assert fake.state.status_counts[429] == 1
    assert fake.state.request_counts[("GET", "/v3/jobs")] == 2
