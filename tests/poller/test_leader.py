"""Leader election on the embedded broker: one leader, handover, and the lease."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from services.poller.leader import (
    IncumbentAssignor,
    LeaderElection,
    LeadershipLostError,
    incumbent_assignor,
)
from services.poller.settings import PollerSettings
from shared.kafka import ensure_topics
from shared.topics import POLLER_LEADER
from tests.helpers import wait_until


class Member:
    """A lead function that records when it starts and stops."""

    def __init__(self) -> None:
        self.starts = 0
        self.stops = 0
        self.election: LeaderElection

    async def lead(self) -> None:
        self.starts += 1
        try:
            while True:
                self.election.check()
                await asyncio.sleep(0.01)
        finally:
            self.stops += 1

    @property
    def leading(self) -> bool:
        return self.starts > self.stops


@asynccontextmanager
async def running(
    settings: PollerSettings, clock: Callable[[], float] = time.monotonic
) -> AsyncIterator[Member]:
    member = Member()
    member.election = LeaderElection(settings, clock=clock)
    task = asyncio.create_task(member.election.run(member.lead))
    try:
        yield member
    finally:
        member.election.stop()
        await task


@pytest.fixture
async def settings(poller_settings: PollerSettings) -> PollerSettings:
    await ensure_topics(poller_settings, [POLLER_LEADER])
    return poller_settings


def metadata_of(assignor: type[IncumbentAssignor], topic: str) -> Any:
    return assignor.metadata([topic])


class Cluster:
    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}


def test_assignor_prefers_incumbent() -> None:
    incumbent, newcomer = incumbent_assignor(), incumbent_assignor()
    incumbent.owned_topics = frozenset({"leader"})
    members = {
        "b-member": metadata_of(incumbent, "leader"),
        "a-member": metadata_of(newcomer, "leader"),
    }

    assignment = IncumbentAssignor.assign(Cluster(), members)

    assert assignment["b-member"].assignment == [("leader", [0])]
    assert assignment["a-member"].assignment == []


def test_assignor_without_incumbent_picks_first() -> None:
    members = {
        "b-member": metadata_of(incumbent_assignor(), "leader"),
        "a-member": metadata_of(incumbent_assignor(), "leader"),
    }

    assignment = IncumbentAssignor.assign(Cluster(), members)

    assert assignment["a-member"].assignment == [("leader", [0])]
    assert assignment["b-member"].assignment == []


def test_assignors_keep_state_apart() -> None:
    first, second = incumbent_assignor(), incumbent_assignor()
    first.owned_topics = frozenset({"leader"})

    assert second.owned_topics == frozenset()
    assert IncumbentAssignor.owned_topics == frozenset()


@pytest.mark.integration
async def test_one_leads_and_other_takes_over(settings: PollerSettings) -> None:
    async with running(settings) as first:
        await wait_until(lambda: first.leading, message="the first member to lead")
        async with running(settings) as second:
            await wait_until(second.election.joined.is_set, message="the second member to join")
            await wait_until(lambda: first.leading, message="the first member to lead again")

            assert not second.leading
            assert not second.election.active

            first.election.stop()
            await wait_until(lambda: second.leading, message="the second member to take over")
            assert not first.leading


@pytest.mark.integration
async def test_expired_lease_stops_lead(settings: PollerSettings) -> None:
    offset = 0.0

    def clock() -> float:
        return time.monotonic() + offset

    async with running(settings, clock) as member:
        await wait_until(lambda: member.leading, message="the member to lead")

        offset += settings.lease_seconds + 1
        with pytest.raises(LeadershipLostError):
            member.election.check()
        await wait_until(lambda: member.stops == 1, message="the lead task to stop")

        # The next confirmed commit renews the lease and leading resumes.
        await wait_until(lambda: member.starts == 2, message="the member to lead again")


@pytest.mark.integration
async def test_blocked_loop_stops_lead(settings: PollerSettings) -> None:
    async with running(settings) as member:
        await wait_until(lambda: member.leading, message="the member to lead")

        # A loop blocked for longer than the session: the lead task must not act on resuming.
        time.sleep(settings.kafka_session_timeout_ms / 1000 * 1.5)  # noqa: ASYNC251 (the fault under test)
        assert not member.election.active

        await wait_until(lambda: member.stops >= 1, message="the lead task to stop")
        await wait_until(lambda: member.leading, timeout=20, message="the member to lead again")
