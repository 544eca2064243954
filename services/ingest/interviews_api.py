"""``GET /api/interviews``: upcoming protected interviews, for callers holding an HR token.

Tokens come from ``GREENGUARD_HR_TOKENS_FILE``: one ``<token> <role>`` pair per line, ``#``
starts a comment. Only the ``hr`` role may read the list; a valid token with another role gets
403, a missing or unknown token 401. The file is read again when its modification time changes,
so a token is added or revoked without a restart.

The list is built from three topics followed live: ``greenguard.protected-meetings`` (the last
``interview.protected`` or ``interview.unprotected`` record of each interview, and whether its
link was opened) and ``greenguard.candidate-context`` (the candidate's name and verification
status).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from services.ingest.settings import IngestSettings
from shared.errors import ConfigurationError
from shared.events import parse_timestamp, utc_now
from shared.follow import TopicTable
from shared.logging import get_logger
from shared.topics import CANDIDATE_CONTEXT, PROTECTED_MEETINGS

log = get_logger(__name__)

HR_ROLE = "hr"
STATUS_FIELD_KEY = "identity_verification_status"


@dataclass
class TokenFile:
    """Bearer tokens and their roles, re-read when the file changes; tokens kept as digests."""

    path: Path
    _digests: dict[bytes, str] = field(default_factory=dict)
    _mtime: float | None = None

    def role_of(self, token: str) -> str | None:
        """Return the role of ``token``, or None when it is not in the file."""
        self._reload_if_changed()
        presented = hashlib.sha256(token.encode()).digest()
        role = None
        for digest, candidate_role in self._digests.items():
            if hmac.compare_digest(digest, presented):
                role = candidate_role
        return role

    def load(self) -> None:
        """Read the file now; raise ConfigurationError when it cannot be read."""
        try:
            self._read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"GREENGUARD_HR_TOKENS_FILE {self.path} cannot be read ({_describe(exc)})"
            ) from None

    def _reload_if_changed(self) -> None:
        # A file that breaks while serving keeps the tokens last read: a bad edit or a
        # half-written file must not lock HR out, nor let anyone in.
        try:
            self._read()
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("hr_tokens_unreadable", path=str(self.path), error=_describe(exc))

    def _read(self) -> None:
        mtime = self.path.stat().st_mtime
        if mtime == self._mtime:
            return
        digests: dict[bytes, str] = {}
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            parts = text.split()
            if len(parts) != 2:
                log.warning("hr_token_line_invalid", line=number, expected="<token> <role>")
                continue
            digests[hashlib.sha256(parts[0].encode()).digest()] = parts[1].lower()
        self._digests = digests
        self._mtime = mtime
        log.info("hr_tokens_loaded", count=len(digests))


def _decode_meeting(_key: str, raw: bytes) -> dict[str, Any] | None:
    document = orjson.loads(raw)
    if isinstance(document, dict) and document.get("type") in (
        "interview.protected",
        "interview.unprotected",
    ):
        return document
    return None


def _decode_link_opened(_key: str, raw: bytes) -> bool | None:
    document = orjson.loads(raw)
    if isinstance(document, dict) and document.get("type") == "interview.link_opened":
        return True
    return None


def _decode_context(_key: str, raw: bytes) -> dict[str, Any] | None:
    document = orjson.loads(raw)
    if not isinstance(document, dict):
        return None
    identity = document.get("identity") or {}
    fields = document.get("custom_fields") or {}
    names = [
        identity.get("preferred_name") or identity.get("first_name"),
        identity.get("last_name"),
    ]
    return {
        "name": " ".join(str(part) for part in names if part) or None,
        "verification_status": fields.get(STATUS_FIELD_KEY),
    }


@dataclass
class InterviewsView:
    """The three followed tables behind the list."""

    meetings: TopicTable[dict[str, Any]]
    opened: TopicTable[bool]
    contexts: TopicTable[dict[str, Any]]

    def upcoming(self, now: datetime) -> list[dict[str, Any]]:
        """Return the protected interviews that have not ended, soonest first."""
        rows = []
        for key, meeting in self.meetings.items():
            if meeting.get("type") != "interview.protected":
                continue
            ends_at = parse_timestamp(meeting.get("ends_at") or meeting.get("starts_at"))
            if ends_at is None or ends_at <= now:
                continue
            expires_at = parse_timestamp(meeting.get("link_expires_at"))
            if expires_at is not None and expires_at <= now:
                link_status = "expired"
            elif self.opened.get(key):
                link_status = "opened"
            else:
                link_status = "active"
            candidate_id = meeting.get("candidate_id")
            context = self.contexts.get(str(candidate_id)) or {}
            rows.append(
                {
                    "interview_id": meeting.get("interview_id"),
                    "candidate_id": candidate_id,
                    "candidate_name": context.get("name"),
                    "application_id": meeting.get("application_id"),
                    "starts_at": meeting.get("starts_at"),
                    "ends_at": meeting.get("ends_at"),
                    "provider": meeting.get("provider"),
                    "protected_participants": meeting.get("protected_participants", []),
                    "link_status": link_status,
                    "verification_status": context.get("verification_status") or "Not Started",
                }
            )
        rows.sort(key=lambda row: (row["starts_at"] or "", row["interview_id"] or 0))
        return rows


def interview_routes(
    settings: IngestSettings,
) -> tuple[list[BaseRoute], Callable[[], AbstractAsyncContextManager[None]]]:
    """Return the route and a lifespan context that starts and stops the followed tables."""
    assert settings.greenguard_hr_tokens_file is not None
    tokens = TokenFile(settings.greenguard_hr_tokens_file)
    tokens.load()  # a missing file stops start-up with its name
    view = InterviewsView(
        meetings=TopicTable(settings, PROTECTED_MEETINGS, _decode_meeting),
        opened=TopicTable(settings, PROTECTED_MEETINGS, _decode_link_opened),
        contexts=TopicTable(settings, CANDIDATE_CONTEXT, _decode_context),
    )

    async def list_interviews(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _denied(401, "missing_token", "send 'Authorization: Bearer <token>'")
        role = tokens.role_of(token.strip())
        if role is None:
            return _denied(401, "invalid_token", "the token is not valid")
        if role != HR_ROLE:
            log.warning("hr_api_forbidden", role=role)
            return _denied(403, "forbidden", "this token's role may not read interviews")
        return JSONResponse(
            {"interviews": view.upcoming(utc_now())}, headers={"Cache-Control": "no-store"}
        )

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        tables = (view.meetings, view.opened, view.contexts)
        for table in tables:
            await table.start()
        try:
            yield
        finally:
            for table in tables:
                await table.stop()

    return [Route("/api/interviews", list_interviews, methods=["GET"])], lifespan


def _describe(exc: OSError | UnicodeDecodeError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return exc.strerror or type(exc).__name__


def _denied(status: int, error: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)
