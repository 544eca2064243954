"""The poller process: a failed job runs again soon, and a standby takes over a dead leader."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from devstack.broker import free_port
from devstack.fake_greenhouse import FakeGreenhouse
from devstack.fake_greenhouse.faults import Fault
from services.poller.settings import PollerSettings
from services.poller.worker import PollerWorker
from shared.events import Envelope
from shared.health import Health
from shared.kafka import Publisher, read_to_end
from shared.topics import CANDIDATE_EVENTS, ORG_EVENTS, PROTECTED_USERS
from tests.helpers import wait_until

from .conftest import People, ahead, fake_options

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[2]


class PollerProcess:
    """``greenguard poller`` in a child process, with its health port and log file."""

    def __init__(self, environment: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "shared.cli", "poller"],
                cwd=REPOSITORY,
                env={**os.environ, **environment, "HEALTH_PORT": str(self.port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def metric(self, name: str) -> float | None:
        try:
            async with httpx.AsyncClient(timeout=1.0) as client:
                response = await client.get(f"http://127.0.0.1:{self.port}/metrics")
        except httpx.TransportError:
            return None
        for line in response.text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    async def active(self) -> bool:
        return await self.metric("greenguard_poller_active") == 1.0

    async def ready(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=1.0) as client:
                response = await client.get(f"http://127.0.0.1:{self.port}/readyz")
        except httpx.TransportError:
            return False
        return response.status_code == 200

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture
def environment(kafka_options: dict[str, Any], fake: FakeGreenhouse) -> dict[str, str]:
    options = {
        **kafka_options,
        **fake_options(fake),
        "health_host": "127.0.0.1",
        "log_format": "json",
        "poller_interviews_interval_seconds": 0.2,
        "poller_sweep_interval_seconds": 1.0,
    }
    # Settings must accept these values before a child process is started with them.
    PollerSettings.load(**options)
    return {name.upper(): str(value) for name, value in options.items()}


@pytest.fixture
def start_poller(
    environment: dict[str, str], tmp_path: Path
) -> Iterator[Callable[[], PollerProcess]]:
    started: list[PollerProcess] = []

    def start() -> PollerProcess:
        started.append(PollerProcess(environment, tmp_path / f"poller-{len(started)}.log"))
        return started[-1]

    yield start
    for process in started:
        process.kill()


async def published_interviews(settings: Any) -> Counter[int]:
    counts: Counter[int] = Counter()
    for _key, value, _partition, _offset in await read_to_end(settings, CANDIDATE_EVENTS):
        event = Envelope.from_json(value)
        if event.type == "interview.updated":
            counts[event.data["id"]] += 1
    return counts


async def test_standby_takes_over_after_kill(
    fake: FakeGreenhouse,
    start_poller: Callable[[], PollerProcess],
    poller_settings: PollerSettings,
) -> None:
    people = People(fake)
    first_interview = people.schedule(fake, starts_at=ahead(days=1))
    first = start_poller()
    await wait_until(first.active, timeout=30, message="the first poller to become active")

    second = start_poller()
    await wait_until(second.ready, timeout=30, message="the standby to join the group")
    assert not await second.active()
    await wait_until(
        lambda: _interview_published(poller_settings, first_interview["id"]),
        message="the first interview",
    )

    first.kill()
    await wait_until(second.active, timeout=30, message="the standby to take over")
    second_interview = people.schedule(fake, starts_at=ahead(days=2))
    await wait_until(
        lambda: _interview_published(poller_settings, second_interview["id"]),
        message="the second interview",
    )

    counts = await published_interviews(poller_settings)
    assert counts[first_interview["id"]] == 1
    assert counts[second_interview["id"]] == 1
    assert second.terminate() == 0


async def _interview_published(settings: PollerSettings, interview_id: int) -> bool:
    return interview_id in await published_interviews(settings)


async def test_failed_job_retried_soon(
    fake: FakeGreenhouse, poller_settings: PollerSettings
) -> None:
    job = fake.state.insert("jobs", {"name": "Engineer"})
    fake.state.faults.add(Fault(path_prefix="/v3/jobs", status=503, count=1))
    settings = poller_settings.model_copy(
        update={"greenhouse_max_attempts": 1, "poller_retry_seconds": 0.2}
    )
    health = Health()
    worker = PollerWorker(settings, health)
    task = asyncio.create_task(worker.run())
    try:
        await wait_until(
            lambda: _job_published(settings, job["id"]), timeout=30, message="the job after a retry"
        )
        assert fake.state.status_counts[503] == 1
        assert health.readiness()["checks"] == {"kafka": True, "election": True, "greenhouse": True}
    finally:
        worker.stop()
        await task


async def _job_published(settings: PollerSettings, job_id: int) -> bool:
    for _key, value, _partition, _offset in await read_to_end(settings, ORG_EVENTS):
        event = Envelope.from_json(value)
        if event.type == "job.updated" and event.data["id"] == job_id:
            return True
    return False


async def test_protected_users_change_republishes_upcoming(
    fake: FakeGreenhouse, poller_settings: PollerSettings
) -> None:
    people = People(fake)
    interview = people.schedule(fake, starts_at=ahead(days=1))
    settings = poller_settings.model_copy(
        update={"poller_interviews_interval_seconds": 0.2, "poller_sweep_interval_seconds": 600}
    )
    worker = PollerWorker(settings, Health())
    task = asyncio.create_task(worker.run())
    publisher = Publisher(settings)
    try:
        await wait_until(
            lambda: _interview_published(settings, interview["id"]), message="the interview"
        )
        await publisher.start()
        record = orjson.dumps({"email": "new.recruiter@example.invalid"})
        await publisher.publish(PROTECTED_USERS, "new.recruiter@example.invalid", record)

        async def published_twice() -> bool:
            return (await published_interviews(settings))[interview["id"]] == 2

        await wait_until(published_twice, message="the interview published again")
    finally:
        await publisher.stop()
        worker.stop()
        await task
