"""The notifier under test: the fake Greenhouse, settings pointing at it, and a runner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from devstack.fake_greenhouse import FakeGreenhouse
from services.notifier.settings import NotifierSettings
from services.notifier.worker import NotifierWorker
from shared.alerts import Alert
from shared.consumer import PipelineOptions
from shared.health import Health
from shared.kafka import Publisher, ensure_topics
from shared.topics import DEAD_LETTER, INTEGRATION_STATE, VERIFICATION_ALERTS


@pytest.fixture
def fake() -> Iterator[FakeGreenhouse]:
    with FakeGreenhouse() as server:
        server.state.config.update({"rate_limit": 1000})
        yield server


@pytest.fixture
def settings(make_settings: Callable[..., Any], fake: FakeGreenhouse) -> NotifierSettings:
    notifier: NotifierSettings = make_settings(
        NotifierSettings,
        greenhouse_client_id=fake.client_id,
        greenhouse_client_secret=fake.client_secret,
        greenhouse_token_url=fake.token_url,
        greenhouse_introspect_url=fake.introspect_url,
        greenhouse_api_url=fake.api_url,
        health_port=0,
        shutdown_grace_seconds=0.2,
    )
    return notifier


class Notifier:
    """Starts notifier workers as tasks and publishes alerts for them."""

    def __init__(self, settings: NotifierSettings, publisher: Publisher) -> None:
        self.settings = settings
        self.publisher = publisher
        self.running: list[tuple[NotifierWorker, asyncio.Task[None]]] = []

    def start(self, publisher: Publisher | None = None) -> asyncio.Task[None]:
        worker = NotifierWorker(
            self.settings,
            Health(),
            pipeline_options=PipelineOptions(
                backoff_initial_seconds=0.05, commit_interval_seconds=0.05
            ),
            publisher=publisher,
        )
        task = asyncio.create_task(worker.run())
        self.running.append((worker, task))
        return task

    async def send(self, alert: Alert) -> None:
        await self.publisher.publish(VERIFICATION_ALERTS, alert.key, alert.to_json())

    async def send_raw(self, key: str, value: bytes) -> None:
        await self.publisher.publish(VERIFICATION_ALERTS, key, value)

    async def stop_all(self) -> None:
        for worker, task in self.running:
            worker.stop()
            if not task.done():
                await asyncio.wait_for(asyncio.shield(task), timeout=30)
        for _worker, task in self.running:
            if not task.cancelled():
                task.result()


@pytest.fixture
async def notifier(settings: NotifierSettings) -> AsyncIterator[Notifier]:
    await ensure_topics(settings, [VERIFICATION_ALERTS, INTEGRATION_STATE, DEAD_LETTER])
    publisher = Publisher(settings)
    await publisher.start()
    runner = Notifier(settings, publisher)
    try:
        yield runner
        await runner.stop_all()
    finally:
        for _worker, task in runner.running:
            task.cancel()
        await asyncio.gather(*(task for _worker, task in runner.running), return_exceptions=True)
        await publisher.stop()
