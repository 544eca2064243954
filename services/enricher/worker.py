"""The enricher's record handler: meeting protection and the candidate context, per event.

Events are dispatched by the envelope's ``type``:

- ``interview.updated`` (polled): decide protection, apply its effects, refresh the context;
- ``interview.deleted``: withdraw protection, refresh the context when the candidate is known;
- ``candidate.merged``: tombstone the old id's context, move its protected interviews to the
  surviving id and refresh that context;
- ``candidate.deleted``: withdraw protection of its interviews and tombstone its context;
- ``candidate.anonymized``: publish the context without personal fields;
- any other ``candidate.*`` or ``application.*`` event: refresh the context.

Other types are ignored. Every effect is safe to repeat, because the consumer pipeline
redelivers records whose offset was not committed. Protection effects run in this order: the
Greenhouse writes (each skipped when the value is already there), the ``protection_enabled``
alert (its id fixed per interview version, so the notifier writes one note), and last the
``interview.protected`` record. That record is what marks the version as done: the ledger,
rebuilt from ``greenguard.protected-meetings`` at start, skips a version already published.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

import orjson
from aiokafka import ConsumerRecord

from services.enricher.context import build_context
from services.enricher.harvest import HarvestReader
from services.enricher.meetings import (
    PROTECTED,
    UNPROTECTED,
    LinkPolicy,
    Protect,
    Unprotect,
    UnprotectReason,
    decide,
    parse_interview,
    protection_alert,
    unprotected_document,
    unsupported_provider_alert,
)
from shared.alerts import Alert
from shared.custom_fields import CandidateFields
from shared.errors import InvalidEventError
from shared.events import Envelope, utc_now
from shared.follow import TopicTable
from shared.kafka import Publisher
from shared.logging import get_logger
from shared.settings import KafkaSettings
from shared.topics import CANDIDATE_CONTEXT, PROTECTED_MEETINGS, VERIFICATION_ALERTS

log = get_logger(__name__)

PENDING_FROM: frozenset[str | None] = frozenset({None, "Not Started"})
# Unsupported-provider alert ids this process already sent, so that each poll of the same
# interview does not send another. The notifier deduplicates the ones sent before a restart.
_MAX_REMEMBERED_ALERTS = 10_000


def decode_record(record: ConsumerRecord[bytes, bytes]) -> Envelope:
    """Decode one record of ``greenhouse.candidate-events``."""
    return Envelope.from_json(record.value)


class MeetingLedger:
    """The last ``interview.protected`` or ``interview.unprotected`` record of each interview."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.table: TopicTable[dict[str, Any]] = TopicTable(
            settings, PROTECTED_MEETINGS, _decode_meeting
        )

    def protected(self, interview_id: int) -> dict[str, Any] | None:
        """Return the interview's protected record, or None when it is not protected now."""
        document = self.table.get(str(interview_id))
        return document if document is not None and document["type"] == PROTECTED else None

    def protected_of(self, candidate_id: int) -> dict[int, dict[str, Any]]:
        """Return the protected records of a candidate's interviews by interview id."""
        return {
            document["interview_id"]: document
            for _key, document in self.table.items()
            if document["type"] == PROTECTED and document.get("candidate_id") == candidate_id
        }

    def record(self, document: dict[str, Any]) -> None:
        self.table.put(str(document["interview_id"]), document)


def _decode_meeting(key: str, raw: bytes) -> dict[str, Any] | None:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidEventError("protected-meetings record is not JSON") from None
    if not isinstance(document, dict) or document.get("type") not in (PROTECTED, UNPROTECTED):
        return None  # interview.link_opened and other records carry no protection state
    if not isinstance(document.get("interview_id"), int):
        raise InvalidEventError("protected-meetings record has no integer interview_id")
    return document


class Enricher:
    """Handles one decoded event at a time; see the module docstring for the dispatch."""

    def __init__(
        self,
        *,
        publisher: Publisher,
        fields: CandidateFields,
        reader: HarvestReader,
        protected_users: Collection[str],
        ledger: MeetingLedger,
        policy: LinkPolicy,
        context_field_keys: Collection[str] = (),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._publisher = publisher
        self._fields = fields
        self._reader = reader
        self._protected_users = protected_users
        self._ledger = ledger
        self._policy = policy
        self._extra_field_keys = tuple(context_field_keys)
        self._clock = clock
        self._sent_alerts: OrderedDict[str, None] = OrderedDict()

    async def handle(self, envelope: Envelope, record: ConsumerRecord[bytes, bytes]) -> None:
        """Apply the effects of one event; raise to let the pipeline retry or dead-letter it."""
        kind = envelope.type
        if kind == "interview.updated":
            await self._interview_updated(envelope)
        elif kind == "interview.deleted":
            await self._interview_deleted(envelope)
        elif kind == "candidate.merged":
            await self._merged(envelope)
        elif kind == "candidate.deleted":
            await self._deleted(envelope)
        elif kind == "candidate.anonymized":
            await self.refresh_context(_candidate_id(envelope), anonymized=True)
        elif kind.startswith(("candidate.", "application.")):
            await self.refresh_context(_candidate_id(envelope))
        else:
            log.debug("event_ignored", event_id=envelope.id, event_type=kind)
            return
        log.info(
            "event_enriched",
            event_id=envelope.id,
            event_type=kind,
            candidate_id=envelope.candidate_id,
            offset=record.offset,
            partition=record.partition,
        )

    # Meeting protection

    async def _interview_updated(self, envelope: Envelope) -> None:
        interview = parse_interview(envelope.data, envelope.candidate_id)
        decision = decide(interview, self._protected_users, self._policy, self._clock())
        if isinstance(decision, Protect):
            await self.protect(decision)
        elif isinstance(decision, Unprotect):
            if decision.link is not None:
                await self._alert_once(
                    unsupported_provider_alert(interview, decision.link, self._clock())
                )
            await self.unprotect(interview.id, interview.candidate_id, decision.reason)
        else:
            log.debug("interview_left_unchanged", interview_id=interview.id, reason=decision.reason)
        await self.refresh_context(interview.candidate_id)

    async def protect(self, decision: Protect) -> None:
        """Apply a protection decision; a version already published is skipped."""
        interview = decision.interview
        document = decision.document()
        previous = self._ledger.protected(interview.id)
        if previous == document:
            log.debug("interview_already_protected", interview_id=interview.id)
            return
        if previous is None or previous.get("fingerprint") != document["fingerprint"]:
            await self._fields.set_protection(
                interview.candidate_id,
                decision.secure_url,
                status="Pending",
                only_from=PENDING_FROM,
            )
            await self._publish_alert(protection_alert(decision, self._clock()))
        await self._publisher.publish(PROTECTED_MEETINGS, str(interview.id), orjson.dumps(document))
        self._ledger.record(document)
        log.info(
            "interview_protected",
            interview_id=interview.id,
            candidate_id=interview.candidate_id,
            provider=decision.link.provider,
            protected_participant_count=len(decision.participants),
        )

    async def unprotect(
        self, interview_id: int, candidate_id: int | None, reason: UnprotectReason
    ) -> None:
        """Publish ``interview.unprotected`` when the interview is protected now."""
        previous = self._ledger.protected(interview_id)
        if previous is None:
            return
        document = unprotected_document(interview_id, candidate_id, reason, previous)
        await self._publisher.publish(PROTECTED_MEETINGS, str(interview_id), orjson.dumps(document))
        self._ledger.record(document)
        log.info("interview_unprotected", interview_id=interview_id, reason=reason)

    async def _interview_deleted(self, envelope: Envelope) -> None:
        data = envelope.data
        nested = data.get("interview")
        interview_id = (nested if isinstance(nested, dict) else data).get("id")
        if not isinstance(interview_id, int) or isinstance(interview_id, bool):
            raise InvalidEventError("interview.deleted event data has no integer interview id")
        previous = self._ledger.protected(interview_id) or {}
        candidate_id = envelope.candidate_id or previous.get("candidate_id")
        await self.unprotect(interview_id, candidate_id, "interview_deleted")
        if isinstance(candidate_id, int):
            await self.refresh_context(candidate_id)

    async def _alert_once(self, alert: Alert) -> None:
        if alert.id in self._sent_alerts:
            return
        await self._publish_alert(alert)
        self._sent_alerts[alert.id] = None
        if len(self._sent_alerts) > _MAX_REMEMBERED_ALERTS:
            self._sent_alerts.popitem(last=False)

    async def _publish_alert(self, alert: Alert) -> None:
        await self._publisher.publish(VERIFICATION_ALERTS, alert.key, alert.to_json())
        log.info("alert_published", alert_kind=alert.kind, interview_id=alert.interview_id)

    # Candidate lifecycle

    async def _merged(self, envelope: Envelope) -> None:
        person = _person(envelope)
        old_id, new_id = person.get("id"), person.get("new_candidate_id")
        if not isinstance(old_id, int) or not isinstance(new_id, int):
            raise InvalidEventError("candidate.merged event lacks person.id or new_candidate_id")
        await self._publish_context(old_id, None)
        moved = self._ledger.protected_of(old_id)
        if moved:
            # The interviews now belong to the surviving candidate: decide again under its id,
            # so that its secure link and custom fields name the right candidate.
            for interview in await self._reader.interviews(moved):
                decision = decide(interview, self._protected_users, self._policy, self._clock())
                if isinstance(decision, Protect):
                    await self.protect(decision)
                elif isinstance(decision, Unprotect):
                    await self.unprotect(interview.id, interview.candidate_id, decision.reason)
        await self.refresh_context(new_id)

    async def _deleted(self, envelope: Envelope) -> None:
        person = _person(envelope)
        candidate_id = person.get("id", envelope.candidate_id)
        if not isinstance(candidate_id, int):
            raise InvalidEventError("candidate.deleted event names no candidate id")
        for interview_id in self._ledger.protected_of(candidate_id):
            await self.unprotect(interview_id, candidate_id, "candidate_deleted")
        await self._publish_context(candidate_id, None)

    # Candidate context

    async def refresh_context(self, candidate_id: int, *, anonymized: bool = False) -> None:
        """Read the candidate from Harvest and publish its context; tombstone it when gone."""
        records = await self._reader.candidate(candidate_id, self._clock())
        if records is None:
            log.info("candidate_not_found", candidate_id=candidate_id)
            await self._publish_context(candidate_id, None)
            return
        document = build_context(
            records,
            protection=self._ledger.protected_of(candidate_id),
            custom_field_keys=self._context_field_keys(),
            anonymized=anonymized,
        )
        await self._publish_context(candidate_id, document)

    def _context_field_keys(self) -> list[str]:
        owned = [self._fields.status_field, self._fields.link_field]
        return [known.name_key for known in owned if known is not None] + list(
            self._extra_field_keys
        )

    async def _publish_context(self, candidate_id: int, document: Mapping[str, Any] | None) -> None:
        value = orjson.dumps(document) if document is not None else None
        await self._publisher.publish(CANDIDATE_CONTEXT, str(candidate_id), value)
        log.info("candidate_context_published", candidate_id=candidate_id, tombstone=value is None)


def _person(envelope: Envelope) -> dict[str, Any]:
    person = envelope.data.get("person")
    if not isinstance(person, dict):
        raise InvalidEventError(f"{envelope.type} event data has no 'person' object")
    return person


def _candidate_id(envelope: Envelope) -> int:
    """Return the candidate an event is about, from the envelope or the usual payload places."""
    if envelope.candidate_id is not None:
        return envelope.candidate_id
    data = envelope.data
    found: Any = data.get("candidate_id")
    for holder in ("candidate", "application"):
        nested = data.get(holder)
        if found is None and isinstance(nested, dict):
            found = nested.get("id") if holder == "candidate" else nested.get("candidate_id")
            candidate = nested.get("candidate")
            if found is None and isinstance(candidate, dict):
                found = candidate.get("id")
    if not isinstance(found, int) or isinstance(found, bool) or not 0 < found < 2**63:
        raise InvalidEventError(f"{envelope.type} event {envelope.id} names no valid candidate id")
    return found
