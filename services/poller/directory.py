"""Cached lookups an interview event needs: the candidate of an application, a user's email.

Harvest V3 interviews carry ``application_id`` and ``organizer_id`` only. The caches are fed
by the applications and users polls and filled on a miss with one request per 50 ids, so that
an interview never costs a request of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.greenhouse import HarvestClient


class Directory:
    """Application-to-candidate and user-to-email maps, filled lazily from Harvest."""

    def __init__(self, harvest: HarvestClient) -> None:
        self._harvest = harvest
        self._candidates: dict[int, int] = {}
        self._emails: dict[int, str | None] = {}

    def learn_application(self, application: Mapping[str, Any]) -> None:
        """Remember the candidate of a polled application."""
        candidate_id = application.get("candidate_id")
        if isinstance(candidate_id, int):
            self._candidates[application["id"]] = candidate_id

    def learn_user(self, user: Mapping[str, Any]) -> None:
        """Remember the primary email of a polled user (empty for service accounts)."""
        email = user.get("primary_email")
        self._emails[user["id"]] = email if isinstance(email, str) and email else None

    async def candidates_of(self, application_ids: Iterable[int]) -> dict[int, int]:
        """Return the candidate id of each application that exists, fetching the unknown ones."""
        wanted = set(application_ids)
        missing = wanted - self._candidates.keys()
        if missing:
            for application in await self._harvest.get_by_ids("applications", sorted(missing)):
                self.learn_application(application)
        return {key: self._candidates[key] for key in wanted if key in self._candidates}

    async def emails_of(self, user_ids: Iterable[int]) -> dict[int, str | None]:
        """Return the primary email of each user, fetching the unknown ones.

        A user Harvest does not return (deleted, or a hidden service account) maps to None and
        is not asked for again until the users poll reports it.
        """
        wanted = set(user_ids)
        missing = wanted - self._emails.keys()
        if missing:
            for user in await self._harvest.get_by_ids("users", sorted(missing)):
                self.learn_user(user)
            for user_id in missing - self._emails.keys():
                self._emails[user_id] = None
        return {key: self._emails[key] for key in wanted}
