"""Reading what the enricher needs from Harvest V3 in a few batched calls.

A candidate's context takes at most four list calls (candidate, applications, upcoming
interviews, their interviewers) plus one per kind of reference record (jobs, sources, users)
that is not cached yet. Reference records change rarely, so they are kept for
``GREENGUARD_REFERENCE_CACHE_SECONDS``; candidates, applications and interviews are always read
fresh because webhooks only report that something changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from services.enricher.context import CandidateRecords
from services.enricher.meetings import Interview, parse_interview
from shared.greenhouse import HarvestClient

Record = dict[str, Any]


class ReferenceCache:
    """Records of one resource by id, each kept for ``ttl_seconds`` after it was read."""

    def __init__(
        self,
        client: HarvestClient,
        resource: str,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._resource = resource
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[int, tuple[float, Record]] = {}

    async def get_many(self, ids: Iterable[int]) -> dict[int, Record]:
        """Return the records with these ids that exist; the missing or stale ones in one batch."""
        now = self._clock()
        wanted = set(ids)
        found = {
            record_id: entry[1]
            for record_id in wanted
            if (entry := self._entries.get(record_id)) is not None and now - entry[0] < self._ttl
        }
        missing = sorted(wanted - set(found))
        if missing:
            for record in await self._client.get_by_ids(self._resource, missing):
                record_id = record.get("id")
                if isinstance(record_id, int):
                    self._entries[record_id] = (now, record)
                    found[record_id] = record
        return found


class HarvestReader:
    """The enricher's read side of Harvest: candidate records and interviews, batched."""

    def __init__(self, client: HarvestClient, cache_seconds: float) -> None:
        self._client = client
        self.jobs = ReferenceCache(client, "jobs", cache_seconds)
        self.sources = ReferenceCache(client, "sources", cache_seconds)
        self.users = ReferenceCache(client, "users", cache_seconds)

    async def candidate(self, candidate_id: int, now: datetime) -> CandidateRecords | None:
        """Return a candidate's records for its context, or None when it no longer exists.

        Only interviews that have not ended by ``now`` are read.
        """
        found = await self._client.get_by_ids("candidates", [candidate_id])
        if not found:
            return None
        applications = await self._client.get_by_ids(
            "applications", [candidate_id], id_param="candidate_ids"
        )
        application_ids = [a["id"] for a in applications if isinstance(a.get("id"), int)]
        interviews: list[Record] = []
        if application_ids:
            interviews = await self._client.get_by_ids(
                "interviews", application_ids, id_param="application_ids", ends_at=now
            )
        interviewers = await self._panel(interviews)
        records = CandidateRecords(
            candidate=found[0],
            applications=applications,
            interviews=interviews,
            interviewers=interviewers,
        )
        job_ids, source_ids, user_ids = records.reference_ids()
        return replace(
            records,
            jobs=await self.jobs.get_many(job_ids),
            sources=await self.sources.get_many(source_ids),
            users=await self.users.get_many(user_ids),
        )

    async def interviews(self, interview_ids: Iterable[int]) -> list[Interview]:
        """Return the current state of these interviews, as the poller would publish them.

        Interviews that no longer exist, or whose application is gone, are left out.
        """
        interviews = await self._client.get_by_ids("interviews", interview_ids)
        if not interviews:
            return []
        panel = await self._panel(interviews)
        applications = await self._client.get_by_ids(
            "applications", {i["application_id"] for i in interviews if i.get("application_id")}
        )
        candidates = {a["id"]: a.get("candidate_id") for a in applications}
        users = await self.users.get_many(
            {i["organizer_id"] for i in interviews if isinstance(i.get("organizer_id"), int)}
        )
        parsed = []
        for interview in interviews:
            candidate_id = candidates.get(interview.get("application_id"))
            if not isinstance(candidate_id, int):
                continue
            organizer = users.get(interview.get("organizer_id") or 0)
            data = {
                **interview,
                "interviewers": [
                    row for row in panel if row.get("interview_id") == interview["id"]
                ],
                "organizer": {"id": organizer["id"], "email": organizer.get("primary_email")}
                if organizer
                else None,
            }
            parsed.append(parse_interview(data, candidate_id))
        return parsed

    async def _panel(self, interviews: list[Record]) -> list[Record]:
        ids = [i["id"] for i in interviews if isinstance(i.get("id"), int)]
        if not ids:
            return []
        return await self._client.get_by_ids("interviewers", ids, id_param="interview_ids")
