"""The poller process: leader election around the loop that runs due poll jobs.

Every replica runs ``PollerWorker``; only the elected one runs the loop (see
``services.poller.leader``). On election it reloads the state from the state topic, because
another replica may have polled in the meantime, then runs each job when its interval has
passed since it last started, interviews first. A job that fails is logged, counted and run
again later: after ``POLLER_RETRY_SECONDS`` at most when the error is retriable, else at its
next interval. Its mark stays where it was, so nothing is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx

from services.poller import metrics
from services.poller.leader import LeaderElection
from services.poller.planning import seconds_until_due
from services.poller.polling import JOBS, Poller
from services.poller.settings import PollerSettings
from services.poller.state import PollerState, load_state
from shared.errors import BrokerUnavailableError, GreenhouseError
from shared.events import utc_now
from shared.greenhouse import HarvestClient
from shared.health import Health
from shared.integration import IntegrationWatch
from shared.kafka import Publisher, ensure_topics
from shared.logging import get_logger
from shared.protected_users import ProtectedUsers
from shared.topics import (
    CANDIDATE_EVENTS,
    ORG_EVENTS,
    POLLER_LEADER,
    POLLER_STATE,
    PROTECTED_USERS,
)

log = get_logger(__name__)

AGE_REFRESH_SECONDS = 1.0
# How often the leader looks for a change of the protected users between jobs.
PROTECTED_USERS_CHECK_SECONDS = 1.0


class PollerWorker:
    """One poller replica: ``run()`` until ``stop()``."""

    def __init__(
        self,
        settings: PollerSettings,
        health: Health,
        *,
        harvest_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._health = health
        self._harvest_transport = harvest_transport
        self._election: LeaderElection | None = None
        self._harvest: HarvestClient | None = None
        self._publisher: Publisher | None = None
        self._protected_users: ProtectedUsers | None = None
        self._stop_requested = False
        # The Poller of the current term, for tests and diagnostics; None while on standby.
        self.poller: Poller | None = None

    def stop(self) -> None:
        """Stop polling, leave the group and return from ``run``; safe to call twice."""
        self._stop_requested = True
        if self._election is not None:
            self._election.stop()

    async def run(self) -> None:
        """Create the clients, take part in the election and poll while elected."""
        settings = self._settings
        await ensure_topics(
            settings, [CANDIDATE_EVENTS, ORG_EVENTS, POLLER_STATE, POLLER_LEADER, PROTECTED_USERS]
        )
        self._publisher = Publisher(settings)
        await self._publisher.start()
        self._harvest = HarvestClient(settings, transport=self._harvest_transport)
        self._election = LeaderElection(settings, health=self._health)
        if self._stop_requested:
            self._election.stop()
        self._protected_users = ProtectedUsers(settings)
        await self._protected_users.start()
        watch = IntegrationWatch(
            "poller",
            self._harvest,
            self._publisher,
            self._health,
            settings.greenhouse_connect_check_interval_seconds,
        )
        await watch.check()
        watcher = asyncio.create_task(watch.run(), name="connection-watch")
        self._health.set_ready("kafka", True)
        try:
            await self._election.run(self._lead)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            self._health.set_ready("kafka", False, "stopped")
            await self._protected_users.stop()
            await self._harvest.aclose()
            await self._publisher.stop()

    async def _lead(self) -> None:
        assert self._election is not None
        assert self._harvest is not None
        assert self._publisher is not None
        state = await load_state(self._settings)
        self.poller = Poller(
            self._settings, self._harvest, self._publisher, state, guard=self._election.check
        )
        ticker = asyncio.create_task(self._refresh_ages(state), name="poller-ages")
        try:
            await self._run_due_jobs(self.poller)
        finally:
            self.poller = None
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            metrics.SUCCESS_AGE.clear()

    async def _run_due_jobs(self, poller: Poller) -> None:
        intervals = {job: self._interval(job) for job in JOBS}
        last_run: dict[str, float] = {}
        # The enricher decides protection when it handles an interview's event, so a change of
        # the protected users makes the next sweep publish every upcoming interview again.
        swept_for = self._protected_snapshot()
        republish = False
        while True:
            snapshot = self._protected_snapshot()
            if snapshot != swept_for:
                log.info("protected_users_changed", count=len(snapshot))
                swept_for = snapshot
                republish = True
                last_run.pop("sweep", None)
            waits = seconds_until_due(last_run, intervals, time.monotonic())
            job = next((name for name in JOBS if waits[name] <= 0), None)
            if job is None:
                await asyncio.sleep(min(*waits.values(), PROTECTED_USERS_CHECK_SECONDS))
                continue
            started = time.monotonic()
            last_run[job] = started
            retry_in = await self._run_job(poller, job, republish=republish and job == "sweep")
            if retry_in is not None:
                # Due again after ``retry_in`` seconds rather than after a whole interval.
                last_run[job] = started - intervals[job] + retry_in
            elif job == "sweep":
                republish = False

    def _protected_snapshot(self) -> frozenset[str]:
        return frozenset(self._protected_users) if self._protected_users else frozenset()

    async def _run_job(self, poller: Poller, job: str, *, republish: bool = False) -> float | None:
        """Run one job; on failure return the seconds after which it should run again."""
        try:
            await poller.run(job, republish=republish)
        except (GreenhouseError, BrokerUnavailableError) as exc:
            interval = self._interval(job)
            retry_in = interval
            if exc.retriable:
                retry_in = min(interval, self._settings.poller_retry_seconds)
            metrics.FAILURES.labels(job, type(exc).__name__).inc()
            log.warning(
                "poll_failed",
                resource=job,
                error=type(exc).__name__,
                reason=str(exc),
                retriable=exc.retriable,
                retry_in_seconds=retry_in,
            )
            return retry_in
        return None

    def _interval(self, job: str) -> float:
        if job == "sweep":
            return self._settings.poller_sweep_interval_seconds
        return self._settings.interval_seconds(job)

    async def _refresh_ages(self, state: PollerState) -> None:
        # A separate task, so that the ages keep growing while a long job runs.
        while True:
            now = utc_now()
            for resource, mark in state.marks.items():
                age = (now - mark.last_success_at).total_seconds()
                metrics.SUCCESS_AGE.labels(resource).set(age)
            if state.last_sweep_at is not None:
                age = (now - state.last_sweep_at).total_seconds()
                metrics.SUCCESS_AGE.labels("sweep").set(age)
            await asyncio.sleep(AGE_REFRESH_SECONDS)
