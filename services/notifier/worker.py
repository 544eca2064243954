"""The notifier worker: each verification alert becomes one note, then a status update.

Delivery is at least once (``shared.consumer``), so ``AlertNotes`` is idempotent: the notes
ledger (``services.notifier.ledger``) records whether the alert's note exists, is unsure, or was
never attempted, and the status is written only when it changes (``shared.custom_fields``).
Errors sort themselves through the pipeline: 429, 5xx and time-outs arrive as retriable
``GreenhouseUnavailableError`` after the client's own retries and are retried again; an unknown
candidate (404 or 422) and any other 4xx is dead-lettered with Greenhouse's reason.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiokafka import ConsumerRecord
from prometheus_client import Counter

from services.notifier.ledger import LedgerEntry, NotesLedger
from services.notifier.notes import has_reference, note_request, status_change
from services.notifier.settings import NotifierSettings
from shared.alerts import Alert, parse_alert
from shared.consumer import ConsumerPipeline, PipelineOptions
from shared.custom_fields import CandidateFields
from shared.errors import GreenhouseRequestError, GreenhouseUnavailableError
from shared.events import parse_timestamp, utc_now
from shared.greenhouse import HarvestClient
from shared.health import Health
from shared.integration import IntegrationWatch
from shared.kafka import Publisher, ensure_topics
from shared.logging import get_logger
from shared.topics import DEAD_LETTER, INTEGRATION_STATE, VERIFICATION_ALERTS, topic_name

log = get_logger(__name__)

NOTES = Counter(
    "greenguard_alert_notes_total",
    "Alert notes by outcome: created, already_written (ledger), found (by listing notes).",
    ["outcome"],
)
NOTE_LOOKUPS = Counter(
    "greenguard_alert_note_lookups_total",
    "Listings of a candidate's notes made because the ledger could not tell if a note exists.",
)


def decode_alert(record: ConsumerRecord[bytes, bytes]) -> Alert:
    """Decode and validate one record of the alerts topic."""
    return parse_alert(record.value)


class AlertNotes:
    """The pipeline handler: write the alert's note once, then set the candidate's status."""

    def __init__(
        self,
        client: HarvestClient,
        ledger: NotesLedger,
        fields: CandidateFields,
        settings: NotifierSettings,
    ) -> None:
        self._client = client
        self._ledger = ledger
        self._fields = fields
        self._visibility = settings.greenguard_note_visibility
        self._author = settings.greenguard_note_author_user_id
        # A create that timed out may still be running in Greenhouse and add the note after a
        # listing that found none. NOTE: this assumes Greenhouse finishes or drops a request
        # within one more client time-out after the client gave up; Harvest documents no bound.
        self._settle = timedelta(seconds=2 * settings.greenhouse_timeout_seconds)

    async def __call__(self, alert: Alert, record: ConsumerRecord[bytes, bytes]) -> None:
        await self.write_note(alert)
        change = status_change(alert)
        if change is not None:
            status, only_from = change
            await self._fields.set_status(alert.candidate_id, status, only_from=only_from)

    async def write_note(self, alert: Alert) -> None:
        """Create the alert's note unless the ledger or Greenhouse shows it exists."""
        entry = self._ledger.get(alert.id)
        if entry is not None and entry.state == "written":
            NOTES.labels("already_written").inc()
            log.info("alert_note_already_written", alert_id=alert.id, note_id=entry.note_id)
            return
        if entry is not None:
            note_id = await self._find_note(alert)
            if note_id is not None:
                await self._ledger.mark_written(alert.id, alert.candidate_id, note_id)
                NOTES.labels("found").inc()
                log.info("alert_note_found", alert_id=alert.id, note_id=note_id)
                return
            self._check_settled(alert, entry)
        else:
            await self._ledger.mark_writing(alert.id, alert.candidate_id)

        body = note_request(alert, visibility=self._visibility, author_user_id=self._author)
        try:
            note = await self._client.create_note(body)
        except GreenhouseRequestError:
            # A 4xx means Greenhouse created nothing: no note can exist for this attempt.
            await self._ledger.forget(alert.id)
            raise
        note_id = note.get("id")
        await self._ledger.mark_written(
            alert.id, alert.candidate_id, int(note_id) if note_id is not None else None
        )
        NOTES.labels("created").inc()
        log.info(
            "alert_note_created",
            alert_id=alert.id,
            candidate_id=alert.candidate_id,
            application_id=alert.application_id,
            kind=alert.kind,
            note_id=note_id,
        )

    def _check_settled(self, alert: Alert, entry: LedgerEntry) -> None:
        """Raise a retriable error while an earlier create may still add the note."""
        started = parse_timestamp(entry.at)
        if started is not None and utc_now() - started < self._settle:
            raise GreenhouseUnavailableError(
                f"the note of alert {alert.id} was not found, but the create started at "
                f"{entry.at} may still complete; looking again later"
            )

    async def _find_note(self, alert: Alert) -> int | None:
        """Search the candidate's notes, newest first, for the alert's reference line."""
        NOTE_LOOKUPS.inc()
        async for note in self._client.iterate("notes", candidate_ids=[alert.candidate_id]):
            if has_reference(str(note.get("body") or ""), alert.id):
                return int(note["id"])
        return None


class NotifierWorker:
    """The notifier process: its clients, the ledger, the custom fields and the pipeline."""

    def __init__(
        self,
        settings: NotifierSettings,
        health: Health,
        *,
        pipeline_options: PipelineOptions | None = None,
        publisher: Publisher | None = None,
    ) -> None:
        self._settings = settings
        self._health = health
        self._options = pipeline_options
        # Tests pass a publisher to inject Kafka faults; otherwise the worker owns one.
        self._publisher = publisher or Publisher(settings)
        self._pipeline: ConsumerPipeline[Alert] | None = None
        self._stop_requested = False

    def stop(self) -> None:
        """Ask the worker to stop; ``run`` drains and returns. Safe to call twice."""
        self._stop_requested = True
        if self._pipeline is not None:
            self._pipeline.stop()

    async def run(self) -> None:
        """Prepare topics, fields and ledger, then consume alerts until ``stop``."""
        settings = self._settings
        await ensure_topics(settings, [VERIFICATION_ALERTS, INTEGRATION_STATE, DEAD_LETTER])
        await self._publisher.start()
        try:
            async with HarvestClient(settings) as client:
                watch = IntegrationWatch(
                    "notifier",
                    client,
                    self._publisher,
                    self._health,
                    settings.greenhouse_connect_check_interval_seconds,
                )
                await watch.check()
                watcher = asyncio.create_task(watch.run(), name="connection-watch")
                fields = CandidateFields(
                    client,
                    self._publisher,
                    settings,
                    status_field_name=settings.greenguard_status_field_name,
                    link_field_name=settings.greenguard_link_field_name,
                )
                await fields.ensure()
                ledger = NotesLedger(settings, self._publisher)
                await ledger.start()
                try:
                    await self._consume(AlertNotes(client, ledger, fields, settings))
                finally:
                    watcher.cancel()
                    await asyncio.gather(watcher, return_exceptions=True)
                    await ledger.stop()
        finally:
            await self._publisher.stop()

    async def _consume(self, handler: AlertNotes) -> None:
        settings = self._settings
        self._pipeline = ConsumerPipeline(
            settings,
            topics=[topic_name(VERIFICATION_ALERTS, settings.kafka_topic_prefix)],
            group_id=settings.group_id,
            decode=decode_alert,
            handler=handler,
            publisher=self._publisher,
            health=self._health,
            options=self._options,
        )
        if self._stop_requested:
            self._pipeline.stop()
        await self._pipeline.run(settings.shutdown_grace_seconds)
