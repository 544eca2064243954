"""The poll jobs: read one Harvest V3 window or sweep, publish what changed, store the state.

Jobs, by name:

- ``interviews``: the ``updated_at`` window of ``/v3/interviews`` and the one of
  ``/v3/interviewers`` (panel rows can change without the interview's ``updated_at``, which
  Greenhouse does not document either way). Every interview found changed is published with
  its panel, fetched for 50 interviews per request, its organizer and its candidate.
- ``sweep``: every interview starting within the look-ahead, with its panel. Those that differ
  from their last published version are published again. A published upcoming interview that
  Harvest no longer returns is published as deleted.
- any name of ``RECORD_RESOURCES``: that resource's ``updated_at`` window.

Each event is acknowledged by Kafka before the state that records it is written, and a
resource's mark is written last, so a crash can only make the next run publish again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from services.poller import metrics
from services.poller.directory import Directory
from services.poller.events import (
    Publication,
    interview_data,
    interview_deleted_event,
    interview_event,
    organizer_view,
    record_event,
    record_id,
)
from services.poller.planning import (
    InterviewMemo,
    Window,
    advance_mark,
    interview_fingerprint,
    interview_hash,
    memo_expired,
    needs_publication,
    next_window,
    vanished_interviews,
)
from services.poller.settings import RECORD_RESOURCES, PollerSettings
from services.poller.state import PollerState, ResourceMark, StateRecord, save_state
from shared.errors import InvalidEventError
from shared.events import isoformat, parse_timestamp, utc_now
from shared.greenhouse import HarvestClient
from shared.kafka import Publisher
from shared.logging import get_logger

log = get_logger(__name__)

# The order in which due jobs run: interviews first, because meetings depend on them.
JOBS = ("interviews", "sweep", *RECORD_RESOURCES)

Record = dict[str, Any]


def _no_guard() -> None:
    return None


class Poller:
    """The poll jobs of the active poller; ``guard`` raises once it may no longer act."""

    def __init__(
        self,
        settings: PollerSettings,
        harvest: HarvestClient,
        publisher: Publisher,
        state: PollerState,
        *,
        guard: Callable[[], None] = _no_guard,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._settings = settings
        self._harvest = harvest
        self._publisher = publisher
        self.state = state
        self._guard = guard
        self._clock = clock
        self._overlap = timedelta(seconds=settings.poller_overlap_seconds)
        self._lookback = timedelta(hours=settings.poller_lookback_hours)
        self._lookahead = timedelta(hours=settings.poller_lookahead_hours)
        self.directory = Directory(harvest)

    async def run(self, job: str, *, republish: bool = False) -> int:
        """Run one job (see the module docstring) and return the number of events published.

        ``republish`` applies to the sweep only (see ``sweep``).
        """
        self._guard()
        if job == "interviews":
            return await self.poll_interviews()
        if job == "sweep":
            return await self.sweep(republish=republish)
        if job in RECORD_RESOURCES:
            return await self.poll_records(job)
        raise ValueError(f"unknown poll job {job!r}; expected one of {', '.join(JOBS)}")

    # Record resources

    async def poll_records(self, resource: str) -> int:
        """Publish the records of ``resource`` changed since its mark."""
        now = self._now()
        window = self._window(resource, now)
        versions = self.state.versions(resource)
        before = dict(versions.versions)
        latest: datetime | None = None
        published = 0
        async for record in self._pages(resource, updated_at=(window.start, window.end)):
            latest = _later(latest, record)
            self._learn(resource, record)
            try:
                identifier = record_id(record, resource)
                if not versions.is_new(identifier, _version(record)):
                    continue
                publication = record_event(resource, record, isoformat(self._now()))
            except InvalidEventError as exc:
                log.warning("poll_record_invalid", resource=resource, reason=str(exc))
                continue
            await self._publish(resource, publication)
            versions.remember(identifier, _version(record))
            published += 1
        await self._complete(resource, window, latest, published, now, before)
        return published

    def _learn(self, resource: str, record: Record) -> None:
        if not isinstance(record.get("id"), int):
            return
        if resource == "applications":
            self.directory.learn_application(record)
        elif resource == "users":
            self.directory.learn_user(record)

    # Interviews

    async def poll_interviews(self) -> int:
        """Publish the interviews changed since the marks, panel changes included."""
        now = self._now()
        window = self._window("interviews", now)
        panel_window = self._window("interviewers", now)

        changed: dict[int, Record] = {}
        latest: datetime | None = None
        async for interview in self._pages("interviews", updated_at=(window.start, window.end)):
            latest = _later(latest, interview)
            identifier = interview.get("id")
            if isinstance(identifier, int) and needs_publication(
                self.state.interviews.get(identifier), interview
            ):
                changed[identifier] = interview

        panel_versions = self.state.versions("interviewers")
        panel_before = dict(panel_versions.versions)
        panel_latest: datetime | None = None
        new_rows: list[Record] = []
        async for row in self._pages(
            "interviewers", updated_at=(panel_window.start, panel_window.end)
        ):
            panel_latest = _later(panel_latest, row)
            if isinstance(row.get("id"), int) and panel_versions.is_new(row["id"], _version(row)):
                new_rows.append(row)

        touched = {row.get("interview_id") for row in new_rows} - changed.keys()
        touched_ids = sorted(value for value in touched if isinstance(value, int))
        if touched_ids:
            self._guard()
            for interview in await self._harvest.get_by_ids("interviews", touched_ids):
                changed[interview["id"]] = interview

        published = await self._publish_interviews(list(changed.values()))
        for row in new_rows:
            panel_versions.remember(row["id"], _version(row))
        await self._complete("interviews", window, latest, published, now, None)
        await self._complete("interviewers", panel_window, panel_latest, 0, now, panel_before)
        return published

    async def sweep(self, *, republish: bool = False) -> int:
        """Re-read the interviews starting within the look-ahead and publish the differences.

        With ``republish`` every listed interview is published again even when unchanged, so
        that the enricher decides anew, for example after the protected users changed.
        """
        now = self._now()
        end = now + self._lookahead
        listed = [interview async for interview in self._pages("interviews", starts_at=(now, end))]
        listed = [interview for interview in listed if isinstance(interview.get("id"), int)]
        vanished = vanished_interviews(
            self.state.interviews, {interview["id"] for interview in listed}, start=now, end=end
        )
        deleted: list[int] = []
        if vanished:
            self._guard()
            found = await self._harvest.get_by_ids("interviews", vanished)
            listed += found
            present = {interview["id"] for interview in found}
            deleted = [identifier for identifier in vanished if identifier not in present]

        published = await self._publish_interviews(listed, republish=republish)
        published += await self._publish_deletions(deleted)
        forgotten = await self._forget_finished(now)

        self.state.last_sweep_at = now
        self._guard()
        await save_state(self._publisher, [self.state.sweep_record()])
        metrics.LAST_SUCCESS.labels("sweep").set(now.timestamp())
        log.info(
            "poll_finished",
            resource="sweep",
            listed=len(listed),
            published=published,
            deleted=len(deleted),
            memos_forgotten=forgotten,
        )
        return published

    async def _publish_interviews(
        self, interviews: Sequence[Record], *, republish: bool = False
    ) -> int:
        if not interviews:
            return 0
        self._guard()
        panels: dict[int, list[Record]] = {}
        rows = await self._harvest.get_by_ids(
            "interviewers", [interview["id"] for interview in interviews], id_param="interview_ids"
        )
        for row in rows:
            interview_id = _int(row.get("interview_id"))
            if interview_id is not None:
                panels.setdefault(interview_id, []).append(row)
        candidates = await self.directory.candidates_of(
            _ints(interview.get("application_id") for interview in interviews)
        )
        emails = await self.directory.emails_of(
            _ints(interview.get("organizer_id") for interview in interviews)
        )
        published = 0
        for interview in sorted(interviews, key=_chronological):
            panel = panels.get(interview["id"], [])
            published += await self._publish_interview(
                interview, panel, candidates, emails, republish=republish
            )
        return published

    async def _publish_interview(
        self,
        interview: Record,
        panel: list[Record],
        candidates: Mapping[int, int],
        emails: Mapping[int, str | None],
        *,
        republish: bool = False,
    ) -> int:
        identifier: int = interview["id"]
        application_id = _int(interview.get("application_id"))
        candidate_id = candidates.get(application_id) if application_id is not None else None
        if candidate_id is None:
            log.warning(
                "interview_candidate_not_found",
                interview_id=identifier,
                application_id=application_id,
            )
            return 0

        organizer_id = _int(interview.get("organizer_id"))
        organizer = organizer_view(
            organizer_id, emails.get(organizer_id) if organizer_id is not None else None
        )
        fingerprint = interview_fingerprint(interview, panel, organizer)

        previous = self.state.interviews.get(identifier)
        published = 0
        if republish or previous is None or previous.fingerprint != fingerprint:
            data = interview_data(interview, panel, organizer, candidate_id)
            received_at = isoformat(self._now())
            await self._publish("interviews", interview_event(data, fingerprint, received_at))
            published = 1

        memo = InterviewMemo(
            id=identifier,
            candidate_id=candidate_id,
            application_id=application_id,
            fingerprint=fingerprint,
            record_hash=interview_hash(interview),
            updated_at=_text(interview.get("updated_at")),
            starts_at=_text(interview.get("starts_at")),
        )
        if memo != previous:
            self.state.interviews[identifier] = memo
            await self._save([self.state.interview_record(identifier)])
        return published

    async def _publish_deletions(self, deleted: Sequence[int]) -> int:
        received_at = isoformat(self._now())
        for identifier in deleted:
            memo = self.state.interviews[identifier]
            await self._publish(
                "interviews",
                interview_deleted_event(
                    identifier, memo.candidate_id, memo.application_id, received_at
                ),
            )
            del self.state.interviews[identifier]
            await self._save([self.state.interview_record(identifier)])
        return len(deleted)

    async def _forget_finished(self, now: datetime) -> int:
        mark = self.state.mark("interviews")
        if mark is None:
            return 0
        expired = [
            memo.id
            for memo in self.state.interviews.values()
            if memo_expired(memo, now=now, interviews_mark=mark, overlap=self._overlap)
        ]
        for identifier in expired:
            del self.state.interviews[identifier]
        await self._save([self.state.interview_record(identifier) for identifier in expired])
        return len(expired)

    # Plumbing

    def _now(self) -> datetime:
        # Milliseconds, as Harvest and the state topic write times, so a mark reloads equal.
        moment = self._clock()
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def _window(self, resource: str, now: datetime) -> Window:
        return next_window(
            self.state.mark(resource), now, overlap=self._overlap, lookback=self._lookback
        )

    async def _pages(self, resource: str, **filters: Any) -> AsyncIterator[Record]:
        self._guard()
        async for record in self._harvest.iterate(
            resource, per_page=self._settings.poller_page_size, **filters
        ):
            self._guard()
            yield record

    async def _publish(self, resource: str, publication: Publication) -> None:
        self._guard()
        envelope = publication.envelope
        await self._publisher.publish(
            publication.topic, publication.key, envelope.to_json(), envelope.kafka_headers()
        )
        metrics.PUBLISHED.labels(resource, envelope.type).inc()

    async def _save(self, records: list[StateRecord]) -> None:
        if records:
            self._guard()
            await save_state(self._publisher, records)

    async def _complete(
        self,
        resource: str,
        window: Window,
        latest: datetime | None,
        published: int,
        now: datetime,
        versions_before: dict[int, str] | None,
    ) -> None:
        """Advance the resource's mark and store it, after the versions it depends on."""
        previous = self.state.marks.get(resource)
        mark = advance_mark(
            previous.high_water_mark if previous else None,
            window,
            [latest] if latest is not None else [],
        )
        total = (previous.records_published if previous else 0) + published
        job = "interviews" if resource == "interviewers" else resource
        self.state.marks[resource] = ResourceMark(
            resource, mark, now, total, interval_seconds=self._settings.interval_seconds(job)
        )
        records: list[StateRecord] = []
        if versions_before is not None:
            versions = self.state.versions(resource)
            versions.prune(mark, self._overlap, self._settings.poller_seen_versions_max)
            if versions.versions != versions_before:
                records.append(self.state.seen_record(resource))
        records.append(self.state.mark_record(resource))
        await self._save(records)
        metrics.LAST_SUCCESS.labels(resource).set(now.timestamp())
        log.info(
            "poll_finished",
            resource=resource,
            published=published,
            window_start=isoformat(window.start),
            window_end=isoformat(window.end),
            high_water_mark=isoformat(mark),
        )


def _version(record: Mapping[str, Any]) -> str:
    return str(record.get("updated_at"))


def _later(latest: datetime | None, record: Mapping[str, Any]) -> datetime | None:
    moment = parse_timestamp(record.get("updated_at"))
    if moment is None:
        return latest
    return moment if latest is None or moment > latest else latest


def _chronological(record: Mapping[str, Any]) -> tuple[float, int]:
    moment = parse_timestamp(record.get("updated_at"))
    return (moment.timestamp() if moment is not None else 0.0), int(record["id"])


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ints(values: Iterable[object]) -> set[int]:
    return {value for value in values if isinstance(value, int) and not isinstance(value, bool)}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
