"""Meeting protection: which interviews get a secure link, and the records that announce it.

An interview is protected when it is scheduled (status ``scheduled`` with a start time and not
yet over), has a meeting link (``video_conferencing_url``, else the first URL inside
``location``) on a known provider, and has at least one protected user as organizer or
interviewer. A link on any other host is never wrapped: wrapping it would turn our domain into
an open redirect, so the interview is reported as an unsupported provider instead.

Hosts are matched exactly against the provider patterns: ``zoom.us`` matches only that host and
``*.zoom.us`` matches its subdomains. URLs with user information, a port, a backslash,
whitespace or non-ASCII characters in them never match, which defeats look-alikes such as
``https://zoom.us@evil.example/`` or ``https://zoom.us.evil.example/``.

This module is pure: no Kafka, HTTP or framework imports.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from shared.alerts import Alert
from shared.errors import InvalidEventError
from shared.events import content_id, isoformat, parse_timestamp
from shared.links import link_url, sign_link

SCHEMA_VERSION = 1
PROTECTED = "interview.protected"
UNPROTECTED = "interview.unprotected"
LINK_OPENED = "interview.link_opened"

DEFAULT_PROVIDERS: dict[str, list[str]] = {
    "zoom": ["zoom.us", "*.zoom.us"],
    "google_meet": ["meet.google.com"],
    "microsoft_teams": ["teams.microsoft.com", "teams.live.com"],
    "webex": ["*.webex.com"],
}

# Statuses after the meeting took place: the link simply expires, nothing is withdrawn.
FINISHED_STATUSES = frozenset({"awaiting_feedback", "collect_feedback", "complete"})

_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?)]}>'\""
_FORBIDDEN_IN_URL = re.compile(r"[\s\\\x00-\x1f\x7f]")

UnprotectReason = Literal[
    "not_scheduled",
    "no_meeting_link",
    "no_protected_participant",
    "unsupported_meeting_provider",
    "interview_deleted",
    "candidate_deleted",
]


# Providers


@dataclass(frozen=True)
class Provider:
    """A meeting provider and the host patterns its join links use."""

    name: str
    hosts: tuple[str, ...]

    def matches(self, host: str) -> bool:
        for pattern in self.hosts:
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]):
                    return True
            elif host == pattern:
                return True
        return False


def parse_providers(table: Mapping[str, Sequence[str]]) -> tuple[Provider, ...]:
    """Validate a provider table (name → host patterns); raise ValueError naming the bad entry."""
    providers = []
    for name, patterns in table.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ValueError(f"provider name {name!r} must be lower-case letters, digits and _")
        if not patterns:
            raise ValueError(f"provider {name!r} has no host patterns")
        hosts = tuple(pattern.strip().lower() for pattern in patterns)
        for pattern in hosts:
            host = pattern.removeprefix("*.")
            # A wildcard must keep at least two labels, so "*.com" cannot allow every .com host.
            if not _HOST.fullmatch(host) or (pattern.startswith("*.") and "." not in host):
                raise ValueError(
                    f"provider {name!r} has invalid host pattern {pattern!r}: expected a host "
                    "name such as zoom.us, or *. followed by one such as *.webex.com"
                )
        providers.append(Provider(name, hosts))
    return tuple(providers)


@dataclass(frozen=True)
class MeetingLink:
    """A meeting URL found on an interview; ``provider`` is None when it is not supported."""

    url: str
    host: str | None
    provider: str | None


def classify_url(url: str, providers: Sequence[Provider]) -> MeetingLink:
    """Return the link with its provider, or with ``provider`` None when none may be wrapped."""
    host = _strict_host(url)
    if host is None:
        return MeetingLink(url=url, host=None, provider=None)
    for provider in providers:
        if provider.matches(host):
            return MeetingLink(url=url, host=host, provider=provider.name)
    return MeetingLink(url=url, host=host, provider=None)


def find_meeting_link(
    video_conferencing_url: str | None, location: str | None, providers: Sequence[Provider]
) -> MeetingLink | None:
    """Return the interview's meeting link, or None when it has none.

    ``video_conferencing_url`` wins because Greenhouse's own integrations set it. Otherwise the
    first supported URL inside ``location`` is taken, else its first URL of any kind.
    """
    if video_conferencing_url and video_conferencing_url.strip():
        return classify_url(video_conferencing_url.strip(), providers)
    if not location:
        return None
    found = [classify_url(url, providers) for url in urls_in_text(location)]
    supported = [link for link in found if link.provider is not None]
    if supported:
        return supported[0]
    return found[0] if found else None


def urls_in_text(text: str) -> list[str]:
    """Return the http and https URLs in free text, without trailing punctuation."""
    return [match.rstrip(_TRAILING_PUNCTUATION) for match in _URL_IN_TEXT.findall(text)]


def _strict_host(url: str) -> str | None:
    if _FORBIDDEN_IN_URL.search(url) or not url.isascii():
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("https", "http") or "@" in parts.netloc or port is not None:
        return None
    host = (parts.hostname or "").rstrip(".")
    return host if _HOST.fullmatch(host) else None


# Interviews


@dataclass(frozen=True)
class Interview:
    """The fields of a polled interview that protection needs; emails are lower-cased."""

    id: int
    candidate_id: int
    status: str
    application_id: int | None = None
    job_id: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    location: str | None = None
    video_conferencing_url: str | None = None
    external_event_id: str | None = None
    organizer_email: str | None = None
    interviewer_emails: tuple[str, ...] = ()

    @property
    def participant_emails(self) -> tuple[str, ...]:
        emails = (self.organizer_email, *self.interviewer_emails)
        return tuple(dict.fromkeys(email for email in emails if email))


def parse_interview(data: Mapping[str, Any], candidate_id: int | None) -> Interview:
    """Build an Interview from an ``interview.updated`` event's data.

    ``candidate_id`` is the envelope's; the data's own ``candidate_id`` is used when it is None.
    Raises InvalidEventError when the id or the candidate id is missing or not an integer.
    """
    interview_id = _integer(data.get("id"))
    if interview_id is None:
        raise InvalidEventError("interview event data has no integer 'id'")
    candidate = candidate_id if candidate_id is not None else _integer(data.get("candidate_id"))
    if candidate is None:
        raise InvalidEventError(f"interview {interview_id} event names no candidate id")
    organizer = data.get("organizer")
    interviewers = data.get("interviewers") or []
    if not isinstance(interviewers, list):
        raise InvalidEventError(f"interview {interview_id} event 'interviewers' is not a list")
    return Interview(
        id=interview_id,
        candidate_id=candidate,
        status=str(data.get("status") or ""),
        application_id=_integer(data.get("application_id")),
        job_id=_integer(data.get("job_id")),
        starts_at=parse_timestamp(data.get("starts_at")),
        ends_at=parse_timestamp(data.get("ends_at")),
        location=_text(data.get("location")),
        video_conferencing_url=_text(data.get("video_conferencing_url")),
        external_event_id=_text(data.get("external_event_id")),
        organizer_email=_email(organizer.get("email")) if isinstance(organizer, dict) else None,
        interviewer_emails=tuple(
            email
            for row in interviewers
            if isinstance(row, dict) and (email := _email(row.get("email")))
        ),
    )


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _email(value: object) -> str | None:
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


# The decision


@dataclass(frozen=True)
class LinkPolicy:
    """Secure-link settings: public base URL, signing keys, validity after the end, providers."""

    base_url: str
    signing_keys: tuple[str, ...]
    valid_after_end: timedelta
    providers: tuple[Provider, ...] = field(
        default_factory=lambda: parse_providers(DEFAULT_PROVIDERS)
    )


@dataclass(frozen=True)
class Protect:
    """Protect the interview: ``document`` is the ``interview.protected`` record."""

    interview: Interview
    link: MeetingLink
    participants: tuple[str, ...]
    secure_url: str
    expires_at: datetime

    @property
    def fingerprint(self) -> str:
        """Identify this interview version: a new time or URL gives a new fingerprint."""
        return content_id(
            self.secure_url, _iso(self.interview.starts_at), _iso(self.interview.ends_at)
        )

    def document(self) -> dict[str, Any]:
        interview = self.interview
        return {
            "schema_version": SCHEMA_VERSION,
            "type": PROTECTED,
            "interview_id": interview.id,
            "candidate_id": interview.candidate_id,
            "application_id": interview.application_id,
            "job_id": interview.job_id,
            "external_event_id": interview.external_event_id,
            "starts_at": _iso(interview.starts_at),
            "ends_at": _iso(interview.ends_at),
            "provider": self.link.provider,
            "original_url": self.link.url,
            "secure_url": self.secure_url,
            "link_expires_at": isoformat(self.expires_at),
            "protected_participants": list(self.participants),
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class Unprotect:
    """Withdraw any earlier protection; ``link`` is set when the provider was unsupported."""

    reason: UnprotectReason
    link: MeetingLink | None = None


@dataclass(frozen=True)
class Unchanged:
    """Leave things as they are: the interview is over, so its link just expires."""

    reason: str


Decision = Protect | Unprotect | Unchanged


def decide(
    interview: Interview, protected: Collection[str], policy: LinkPolicy, now: datetime
) -> Decision:
    """Decide whether an interview is protected; ``protected`` contains lower-cased emails."""
    if interview.status in FINISHED_STATUSES:
        return Unchanged(f"status {interview.status}")
    if interview.status != "scheduled" or interview.starts_at is None:
        return Unprotect("not_scheduled")
    end = interview.ends_at or interview.starts_at
    if end <= now:
        return Unchanged("ended")

    participants = tuple(email for email in interview.participant_emails if email in protected)
    if not participants:
        return Unprotect("no_protected_participant")
    link = find_meeting_link(interview.video_conferencing_url, interview.location, policy.providers)
    if link is None:
        return Unprotect("no_meeting_link")
    if link.provider is None:
        return Unprotect("unsupported_meeting_provider", link)

    expires_at = end + policy.valid_after_end
    token = sign_link(
        policy.signing_keys,
        interview_id=interview.id,
        candidate_id=interview.candidate_id,
        url=link.url,
        expires_at=expires_at,
    )
    return Protect(
        interview=interview,
        link=link,
        participants=participants,
        secure_url=link_url(policy.base_url, token),
        expires_at=expires_at,
    )


def unprotected_document(
    interview_id: int,
    candidate_id: int | None,
    reason: UnprotectReason,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the ``interview.unprotected`` record; ``previous`` is the last protected one."""
    previous = previous or {}
    return {
        "schema_version": SCHEMA_VERSION,
        "type": UNPROTECTED,
        "interview_id": interview_id,
        "candidate_id": candidate_id if candidate_id is not None else previous.get("candidate_id"),
        "application_id": previous.get("application_id"),
        "external_event_id": previous.get("external_event_id"),
        "original_url": previous.get("original_url"),
        "reason": reason,
    }


def _iso(moment: datetime | None) -> str | None:
    return isoformat(moment) if moment is not None else None


# Alerts for the notifier, which writes each as an interview note. Their ids depend only on the
# interview version, so a replayed event yields the same id and the notifier writes one note.


def protection_alert(protect: Protect, now: datetime) -> Alert:
    """Build the ``protection_enabled`` alert for a protected interview version."""
    interview = protect.interview
    starts = interview.starts_at.strftime("%Y-%m-%d %H:%M UTC") if interview.starts_at else "?"
    return Alert(
        id=f"protection:{interview.id}:{protect.fingerprint}",
        candidate_id=interview.candidate_id,
        application_id=interview.application_id,
        interview_id=interview.id,
        kind="protection_enabled",
        severity="info",
        summary=(
            f"Identity verification is enabled for the interview on {starts}: the candidate "
            "joins through a secure Greenguard link."
        ),
        details=(
            f"Meeting provider: {protect.link.provider}. Secure link: {protect.secure_url} "
            f"(valid until {isoformat(protect.expires_at)})."
        ),
        occurred_at=isoformat(now),
    )


def unsupported_provider_alert(interview: Interview, link: MeetingLink, now: datetime) -> Alert:
    """Build the ``unsupported_meeting_provider`` alert for an interview left unprotected."""
    where = f"on host {link.host}" if link.host else "that cannot be parsed safely"
    return Alert(
        id=f"unsupported-provider:{interview.id}:{content_id(link.url)}",
        candidate_id=interview.candidate_id,
        application_id=interview.application_id,
        interview_id=interview.id,
        kind="unsupported_meeting_provider",
        severity="warning",
        summary=(
            f"The interview's meeting link is {where}, which is not a supported meeting "
            "provider, so identity verification is not enabled for it."
        ),
        details=(
            "Greenguard wraps only Zoom, Google Meet, Microsoft Teams and Webex links unless "
            "GREENGUARD_MEETING_PROVIDERS says otherwise. Move the meeting to a supported "
            "provider to protect it."
        ),
        occurred_at=isoformat(now),
    )
