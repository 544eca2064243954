"""``greenguard enricher``: protect interviews and keep the candidate context current.

Start-up order: create the topics, connect the publisher, load the protected users and the
meeting ledger (both followed live afterwards), make sure the Greenhouse custom fields exist,
then join the consumer group. Everything opened is closed once, in reverse order, when the
pipeline stops.
"""

from __future__ import annotations

import argparse
import asyncio
from contextlib import AsyncExitStack

from services.enricher.harvest import HarvestReader
from services.enricher.settings import EnricherSettings
from services.enricher.worker import Enricher, MeetingLedger, decode_record
from shared.consumer import ConsumerPipeline, PipelineOptions
from shared.custom_fields import CandidateFields
from shared.events import Envelope
from shared.greenhouse import HarvestClient
from shared.health import Health
from shared.integration import IntegrationWatch
from shared.kafka import Publisher, ensure_topics
from shared.protected_users import ProtectedUsers
from shared.runtime import run_worker
from shared.topics import (
    CANDIDATE_CONTEXT,
    CANDIDATE_EVENTS,
    DEAD_LETTER,
    INTEGRATION_STATE,
    PROTECTED_MEETINGS,
    PROTECTED_USERS,
    VERIFICATION_ALERTS,
    topic_name,
)

TOPICS = (
    CANDIDATE_EVENTS,
    PROTECTED_USERS,
    PROTECTED_MEETINGS,
    VERIFICATION_ALERTS,
    CANDIDATE_CONTEXT,
    INTEGRATION_STATE,
    DEAD_LETTER,
)


class EnricherWorker:
    """The running enricher: its clients, its live views and the consumer pipeline."""

    def __init__(
        self,
        settings: EnricherSettings,
        health: Health,
        *,
        options: PipelineOptions | None = None,
        client: HarvestClient | None = None,
    ) -> None:
        self.settings = settings
        self._health = health
        self._options = options
        self._stack = AsyncExitStack()
        self.client = client or HarvestClient(settings)
        self.publisher = Publisher(settings)
        self.protected_users = ProtectedUsers(settings)
        self.ledger = MeetingLedger(settings)
        self.fields = CandidateFields(
            self.client,
            self.publisher,
            settings,
            status_field_name=settings.greenguard_status_field_name,
            link_field_name=settings.greenguard_link_field_name,
        )
        self.enricher = Enricher(
            publisher=self.publisher,
            fields=self.fields,
            reader=HarvestReader(self.client, settings.greenguard_reference_cache_seconds),
            protected_users=self.protected_users,
            ledger=self.ledger,
            policy=settings.link_policy(),
            context_field_keys=settings.greenguard_context_custom_fields,
        )
        self.pipeline: ConsumerPipeline[Envelope] | None = None
        self._stop_requested = False

    async def start(self) -> None:
        """Open every client and load the live views; on failure close what was opened."""
        settings = self.settings
        try:
            self._stack.push_async_callback(self.client.aclose)
            await ensure_topics(settings, TOPICS)
            await self.publisher.start()
            self._stack.push_async_callback(self.publisher.stop)
            await self.protected_users.start()
            self._stack.push_async_callback(self.protected_users.stop)
            await self.ledger.table.start()
            self._stack.push_async_callback(self.ledger.table.stop)
            watch = IntegrationWatch(
                "enricher",
                self.client,
                self.publisher,
                self._health,
                settings.greenhouse_connect_check_interval_seconds,
            )
            await watch.check()
            watcher = asyncio.create_task(watch.run(), name="connection-watch")
            self._stack.push_async_callback(_cancel, watcher)
            await self.fields.ensure()
        except BaseException:
            await self._stack.aclose()
            raise
        self.pipeline = ConsumerPipeline(
            settings,
            topics=[topic_name(CANDIDATE_EVENTS, settings.kafka_topic_prefix)],
            group_id=f"{settings.kafka_topic_prefix}{settings.consumer_group}",
            decode=decode_record,
            handler=self.enricher.handle,
            publisher=self.publisher,
            health=self._health,
            options=self._options,
        )
        if self._stop_requested:
            self.pipeline.stop()

    async def run(self) -> None:
        """Consume until ``stop``, then close everything, also when the pipeline halts."""
        if self.pipeline is None:
            await self.start()
        assert self.pipeline is not None
        try:
            await self.pipeline.run(self.settings.shutdown_grace_seconds)
        finally:
            await self._stack.aclose()

    def stop(self) -> None:
        """Ask the pipeline to stop; safe to call twice and before ``start``."""
        self._stop_requested = True
        if self.pipeline is not None:
            self.pipeline.stop()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare no arguments: the enricher reads its settings from the environment."""


def main(args: argparse.Namespace) -> int:
    """Run the enricher until SIGTERM; return the exit status."""
    settings = EnricherSettings.load()
    settings.require_credentials()

    async def build(health: Health) -> EnricherWorker:
        worker = EnricherWorker(settings, health)
        await worker.start()
        return worker

    return run_worker("enricher", settings, build)
