"""The notes ledger: which alerts already have a note, kept in ``greenguard.integration-state``.

Key ``notes-ledger:<alert id>``, values:

    {"state": "writing", "candidate_id": N, "at": "<ISO-8601>"}   published before the note
    {"state": "written", "candidate_id": N, "note_id": M, "at": "..."}   published after it

Because of the write-ahead marker, each of the three ledger states is reliable:

- no entry: no note was ever attempted, so one is created without asking Greenhouse;
- ``written``: the note exists, nothing is sent;
- ``writing``: a note may exist (a crash, a time-out or a lost response after the request went
  out), so the candidate's notes are listed and searched for the alert's reference line.

A tombstone removes the entry after Greenhouse rejected the note with a 4xx, because then no
note exists. Every replica loads the whole ledger at start and follows it live, so a replica
that takes over a partition reads what the previous owner wrote.

NOTE: two replicas that handle the same alert at the same moment can both find no entry and
both create a note. The consumer group makes this rare: it needs an owner that keeps working
after losing its partition (a session time-out) or beyond the rebalance grace period.
NOTE: the ledger keeps one entry per alert ever seen in memory, about a hundred bytes each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from shared.errors import InvalidEventError
from shared.events import isoformat, utc_now
from shared.follow import TopicTable
from shared.kafka import Publisher
from shared.settings import KafkaSettings
from shared.topics import INTEGRATION_STATE

LEDGER_PREFIX = "notes-ledger:"

LedgerState = Literal["writing", "written"]


@dataclass(frozen=True)
class LedgerEntry:
    """Ledger entry about one alert's note."""

    state: LedgerState
    candidate_id: int
    note_id: int | None = None
    at: str = ""

    def to_json(self) -> bytes:
        document: dict[str, Any] = {"state": self.state, "candidate_id": self.candidate_id}
        if self.note_id is not None:
            document["note_id"] = self.note_id
        document["at"] = self.at or isoformat(utc_now())
        return orjson.dumps(document)


def ledger_key(alert_id: str) -> str:
    """Return the integration-state key of an alert's ledger entry."""
    return f"{LEDGER_PREFIX}{alert_id}"


def decode_entry(key: str, raw: bytes) -> LedgerEntry | None:
    """Decode one integration-state record; other keys than the ledger's decode to None."""
    if not key.startswith(LEDGER_PREFIX):
        return None
    try:
        document = orjson.loads(raw)
        state = document["state"]
        candidate_id = int(document["candidate_id"])
        note_id = document.get("note_id")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidEventError(f"notes-ledger entry is malformed: {exc!r}") from None
    if state not in ("writing", "written"):
        raise InvalidEventError(f"notes-ledger entry has unknown state {state!r}")
    return LedgerEntry(
        state=state,
        candidate_id=candidate_id,
        note_id=int(note_id) if note_id is not None else None,
        at=str(document.get("at", "")),
    )


class NotesLedger:
    """The live ledger: loaded at ``start``, followed in the background, written through."""

    def __init__(self, settings: KafkaSettings, publisher: Publisher) -> None:
        self._publisher = publisher
        self._table: TopicTable[LedgerEntry | None] = TopicTable(
            settings, INTEGRATION_STATE, decode_entry
        )

    def __len__(self) -> int:
        return len(self._table)

    async def start(self) -> None:
        """Load the ledger to the current end of the topic, then follow it."""
        await self._table.start()

    async def stop(self) -> None:
        """Stop following; safe to call twice."""
        await self._table.stop()

    def get(self, alert_id: str) -> LedgerEntry | None:
        """Return the alert's entry as this replica has read or written it."""
        return self._table.get(ledger_key(alert_id))

    async def mark_writing(self, alert_id: str, candidate_id: int) -> None:
        """Record, durably, that a note is about to be created."""
        # The time is kept in memory too: a retry in this process compares against it.
        await self._put(alert_id, LedgerEntry("writing", candidate_id, at=isoformat(utc_now())))

    async def mark_written(self, alert_id: str, candidate_id: int, note_id: int | None) -> None:
        """Record, durably, that the alert's note exists."""
        await self._put(alert_id, LedgerEntry("written", candidate_id, note_id))

    async def forget(self, alert_id: str) -> None:
        """Remove the entry: Greenhouse rejected the note, so none exists."""
        key = ledger_key(alert_id)
        await self._publisher.publish(INTEGRATION_STATE, key, None)
        self._table.put(key, None)

    async def _put(self, alert_id: str, entry: LedgerEntry) -> None:
        key = ledger_key(alert_id)
        await self._publisher.publish(INTEGRATION_STATE, key, entry.to_json())
        self._table.put(key, entry)
