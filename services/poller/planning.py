"""What to ask Harvest for and what to publish: windows, versions, fingerprints, the sweep.

Harvest V3 lists records by id, descending, not by time, so a record that changes while the
poller pages may move out of the pages still to come. Each resource therefore keeps a
high-water mark (the latest ``updated_at`` it has seen) and requests the two-sided window
``updated_at=gte|<mark - overlap>|lte|<now>``: whatever changed during the previous crawl is
read again by the next one. The overlap makes records come back, so the versions already
published are remembered and skipped.

This module is pure: no Kafka, HTTP or framework imports.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.events import content_id, parse_timestamp


@dataclass(frozen=True)
class Window:
    """An inclusive ``updated_at`` range to read."""

    start: datetime
    end: datetime


def next_window(
    mark: datetime | None, now: datetime, *, overlap: timedelta, lookback: timedelta
) -> Window:
    """Return the window of the next poll: from ``mark - overlap``, or ``now - lookback`` at first."""
    start = mark - overlap if mark is not None else now - lookback
    return Window(start=min(start, now), end=now)


def advance_mark(mark: datetime | None, window: Window, seen: Iterable[datetime]) -> datetime:
    """Return the new high-water mark after a complete poll of ``window``.

    The mark only moves to an ``updated_at`` Greenhouse reported, never to our own clock, so a
    Greenhouse clock behind ours cannot open a gap. A first poll that found nothing anchors the
    mark at the window's start.
    """
    latest = max(seen, default=None)
    candidates = [moment for moment in (mark, latest) if moment is not None]
    return max(candidates) if candidates else window.start


@dataclass
class SeenVersions:
    """The ``updated_at`` already published per record id, for records the overlap re-reads."""

    versions: dict[int, str] = field(default_factory=dict)

    def is_new(self, identifier: int, updated_at: object) -> bool:
        """Return whether this version of the record was not published yet."""
        return self.versions.get(identifier) != updated_at

    def remember(self, identifier: int, updated_at: str) -> None:
        """Record that this version was published."""
        self.versions[identifier] = updated_at

    def prune(self, mark: datetime, overlap: timedelta, max_entries: int) -> None:
        """Forget versions the next window cannot return, and the oldest past ``max_entries``.

        A forgotten version that does come back is published again under the same event id,
        which consumers already treat as a duplicate.
        """
        floor = mark - overlap
        kept = []
        for identifier, updated_at in self.versions.items():
            moment = parse_timestamp(updated_at)
            if moment is not None and moment >= floor:
                kept.append((moment, identifier, updated_at))
        kept.sort()
        self.versions = {identifier: text for _moment, identifier, text in kept[-max_entries:]}


# Interviews


def interview_hash(interview: Mapping[str, Any]) -> str:
    """Return a hash of the interview record alone, as ``/v3/interviews`` returns it."""
    return content_id("interview-record", dict(interview))


def interview_fingerprint(
    interview: Mapping[str, Any],
    panel: Sequence[Mapping[str, Any]],
    organizer: Mapping[str, Any] | None,
) -> str:
    """Return a hash of everything an ``interview.updated`` event reports.

    It covers the interview, every panel row (sorted by id) and the organizer, so a new panel
    member changes it even when Greenhouse leaves the interview's ``updated_at`` alone.
    """
    rows = sorted((dict(row) for row in panel), key=lambda row: row.get("id") or 0)
    return content_id(
        "interview", dict(interview), rows, dict(organizer) if organizer is not None else None
    )


@dataclass(frozen=True)
class InterviewMemo:
    """The last published version of an interview, as the poll state stores it."""

    id: int
    candidate_id: int
    application_id: int | None
    fingerprint: str
    record_hash: str
    updated_at: str | None
    starts_at: str | None

    def starts(self) -> datetime | None:
        return parse_timestamp(self.starts_at)

    def updated(self) -> datetime | None:
        return parse_timestamp(self.updated_at)


def needs_publication(memo: InterviewMemo | None, interview: Mapping[str, Any]) -> bool:
    """Return whether a listed interview may differ from its last published version.

    Only the interview's own record is compared, which costs no request. A panel change that
    leaves the record alone is found by the interviewers' own ``updated_at`` window and by
    the sweep, which both compare full fingerprints.
    """
    return memo is None or memo.record_hash != interview_hash(interview)


def memo_expired(
    memo: InterviewMemo, *, now: datetime, interviews_mark: datetime, overlap: timedelta
) -> bool:
    """Return whether a memo can be dropped: its interview has started and no window returns it.

    Memos of upcoming interviews are kept because the sweep needs them to detect a deletion.
    Memos of recent versions are kept so that reading them again publishes nothing.
    """
    starts = memo.starts()
    if starts is not None and starts >= now:
        return False
    updated = memo.updated()
    return updated is None or updated < interviews_mark - overlap


def vanished_interviews(
    memos: Mapping[int, InterviewMemo],
    listed: Collection[int],
    *,
    start: datetime,
    end: datetime,
) -> list[int]:
    """Return the published interviews due to start in ``[start, end]`` that were not listed.

    Each one was deleted or moved out of the range, and only a lookup by id shows which.
    """
    return sorted(
        memo.id
        for memo in memos.values()
        if memo.id not in listed and _starts_within(memo, start, end)
    )


def _starts_within(memo: InterviewMemo, start: datetime, end: datetime) -> bool:
    starts = memo.starts()
    return starts is not None and start <= starts <= end


# Schedule


def seconds_until_due(
    last_run: Mapping[str, float], intervals: Mapping[str, float], now: float
) -> dict[str, float]:
    """Return, per job, the seconds until it is due (zero or less: due now).

    ``last_run`` contains monotonic start times. A job that never ran is due at once.
    """
    return {
        job: (last_run[job] + interval - now) if job in last_run else 0.0
        for job, interval in intervals.items()
    }
