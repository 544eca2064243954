"""Poll state in the compacted topic ``greenguard.poller-state``: where a restart resumes.

Keys and values (JSON):

    mark:<resource>   {"resource", "high_water_mark", "last_success_at", "records_published",
                      "interval_seconds"}
    seen:<resource>   {"resource", "versions": {"<id>": "<updated_at>"}}: versions inside the
                      overlap that were already published
    interview:<id>    the last published version of an interview (``InterviewMemo`` fields);
                      a tombstone once it is over and outside the window
    sweep             {"last_success_at"}: the last complete look-ahead sweep

``<resource>`` is a Harvest path segment (``candidates``) or ``interviewers``, whose window
finds panel changes. Marks are written only after the events of their window were acknowledged,
so a crash in between publishes some events twice and never loses one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import orjson

from services.poller.planning import InterviewMemo, SeenVersions
from shared.events import isoformat, parse_timestamp
from shared.kafka import Publisher, read_compacted
from shared.logging import get_logger
from shared.settings import KafkaSettings
from shared.topics import POLLER_STATE

log = get_logger(__name__)

StateRecord = tuple[str, bytes | None]


@dataclass
class ResourceMark:
    """The high-water mark of one resource and when it was last polled successfully."""

    resource: str
    high_water_mark: datetime
    last_success_at: datetime
    records_published: int = 0
    # The polling interval, so that ``greenguard status`` can judge staleness per resource.
    interval_seconds: float | None = None

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "resource": self.resource,
                "high_water_mark": isoformat(self.high_water_mark),
                "last_success_at": isoformat(self.last_success_at),
                "records_published": self.records_published,
                "interval_seconds": self.interval_seconds,
            }
        )


@dataclass
class PollerState:
    """Everything the poller keeps between cycles and across restarts."""

    marks: dict[str, ResourceMark] = field(default_factory=dict)
    seen: dict[str, SeenVersions] = field(default_factory=dict)
    interviews: dict[int, InterviewMemo] = field(default_factory=dict)
    last_sweep_at: datetime | None = None

    def mark(self, resource: str) -> datetime | None:
        """Return the high-water mark of ``resource``, or None before its first poll."""
        entry = self.marks.get(resource)
        return entry.high_water_mark if entry is not None else None

    def versions(self, resource: str) -> SeenVersions:
        """Return the published versions of ``resource``, created empty on first use."""
        return self.seen.setdefault(resource, SeenVersions())

    # Encoding

    def mark_record(self, resource: str) -> StateRecord:
        return f"mark:{resource}", self.marks[resource].to_json()

    def seen_record(self, resource: str) -> StateRecord:
        versions = {str(key): value for key, value in self.versions(resource).versions.items()}
        return f"seen:{resource}", orjson.dumps({"resource": resource, "versions": versions})

    def interview_record(self, interview_id: int) -> StateRecord:
        """Return the interview's memo, or a tombstone when it has none any more."""
        memo = self.interviews.get(interview_id)
        value = orjson.dumps(asdict(memo)) if memo is not None else None
        return f"interview:{interview_id}", value

    def sweep_record(self) -> StateRecord:
        assert self.last_sweep_at is not None
        return "sweep", orjson.dumps({"last_success_at": isoformat(self.last_sweep_at)})

    @classmethod
    def from_table(cls, table: Mapping[str, bytes]) -> PollerState:
        """Rebuild the state from the last value of each key; invalid entries are skipped.

        Skipping an entry costs at most a re-read and some events published a second time.
        """
        state = cls()
        for key, value in table.items():
            try:
                state._load_entry(key, orjson.loads(value))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                log.warning("poller_state_entry_invalid", key=key, error=type(exc).__name__)
        return state

    def _load_entry(self, key: str, document: Any) -> None:
        kind, _, name = key.partition(":")
        if kind == "mark":
            self.marks[name] = ResourceMark(
                resource=name,
                high_water_mark=_timestamp(document["high_water_mark"]),
                last_success_at=_timestamp(document["last_success_at"]),
                records_published=int(document["records_published"]),
                interval_seconds=document.get("interval_seconds"),
            )
        elif kind == "seen":
            versions = {int(key): str(value) for key, value in document["versions"].items()}
            self.seen[name] = SeenVersions(versions)
        elif kind == "interview":
            memo = InterviewMemo(**document)
            self.interviews[memo.id] = memo
        elif kind == "sweep":
            self.last_sweep_at = _timestamp(document["last_success_at"])
        else:
            raise ValueError(f"unknown state key {key!r}")


def _timestamp(value: object) -> datetime:
    moment = parse_timestamp(value)
    if moment is None:
        raise ValueError(f"invalid timestamp {value!r}")
    return moment


async def load_state(settings: KafkaSettings) -> PollerState:
    """Read the whole state topic and rebuild the state from it."""
    table = await read_compacted(settings, POLLER_STATE)
    state = PollerState.from_table(table)
    log.info(
        "poller_state_loaded",
        marks=len(state.marks),
        interviews=len(state.interviews),
        keys=len(table),
    )
    return state


async def save_state(
    publisher: Publisher, records: Iterator[StateRecord] | list[StateRecord]
) -> int:
    """Write state records one by one, each acknowledged before the next; return the count.

    Callers pass marks last, so that a mark is never ahead of the entries that go with it.
    """
    count = 0
    for key, value in records:
        await publisher.publish(POLLER_STATE, key, value)
        count += 1
    return count
