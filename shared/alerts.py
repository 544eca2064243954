"""Verification alerts: the records on ``greenguard.verification-alerts`` (key: candidate id).

The verification platform and the enricher publish them; the notifier writes each as a note.
Schema version 1 (also in ``shared/schemas/verification-alert.schema.json`` and the README):

    schema_version   1
    id               unique per alert, 1 to 200 printable characters; the exactly-once key
    candidate_id     positive integer
    application_id   positive integer, optional
    interview_id     positive integer, optional
    kind             one of KINDS
    severity         "info", "warning" or "critical"
    summary          1 to 500 characters
    details          up to 5000 characters, optional
    evidence_url     an http(s) URL, optional
    occurred_at      ISO-8601 timestamp with a time zone

This module is pure: no Kafka, HTTP or framework imports.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import orjson

from shared.errors import InvalidEventError
from shared.events import isoformat, parse_timestamp

SCHEMA_VERSION = 1

Kind = Literal[
    "protection_enabled",
    "verified",
    "failed",
    "mismatch",
    "unable_to_complete",
    "unverified_joiner",
    "link_forwarded",
    "deepfake_suspected",
    "unsupported_meeting_provider",
]
Severity = Literal["info", "warning", "critical"]
KINDS: tuple[str, ...] = get_args(Kind)
SEVERITIES: tuple[str, ...] = get_args(Severity)

MAX_ID_LENGTH = 200
MAX_SUMMARY_LENGTH = 500
MAX_DETAILS_LENGTH = 5000
MAX_URL_LENGTH = 2000
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Alert:
    """One verification alert; see the module docstring for the fields."""

    id: str
    candidate_id: int
    kind: Kind
    severity: Severity
    summary: str
    occurred_at: str
    application_id: int | None = None
    interview_id: int | None = None
    details: str | None = None
    evidence_url: str | None = None
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        """Serialize, leaving out optional fields that are unset."""
        document = {key: value for key, value in asdict(self).items() if value is not None}
        return orjson.dumps(document)

    @property
    def key(self) -> str:
        """The Kafka key: the candidate id as a decimal string."""
        return str(self.candidate_id)


def parse_alert(raw: bytes | None) -> Alert:
    """Parse and validate one alert; raise InvalidEventError naming the first invalid field."""
    if raw is None:
        raise InvalidEventError("alert record has no value")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEventError(f"alert is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidEventError("alert is not a JSON object")
    return validate_alert(document)


def validate_alert(document: dict[str, Any]) -> Alert:
    """Validate a decoded alert object and return it as an Alert."""
    known = set(Alert.__dataclass_fields__)
    unknown = sorted(set(document) - known)
    if unknown:
        raise InvalidEventError(f"alert has unknown fields: {', '.join(unknown)}")
    version = document.get("schema_version")
    if isinstance(version, bool) or version != SCHEMA_VERSION:
        raise InvalidEventError(
            f"alert schema_version is {document.get('schema_version')!r}, expected {SCHEMA_VERSION}"
        )
    _check_text(document, "id", MAX_ID_LENGTH, required=True)
    if not str(document["id"]).isprintable():
        raise InvalidEventError("alert field 'id' contains control characters")
    _check_positive_int(document, "candidate_id", required=True)
    _check_positive_int(document, "application_id", required=False)
    _check_positive_int(document, "interview_id", required=False)
    if document.get("kind") not in KINDS:
        raise InvalidEventError(
            f"alert field 'kind' is {document.get('kind')!r}, expected one of {', '.join(KINDS)}"
        )
    if document.get("severity") not in SEVERITIES:
        raise InvalidEventError(
            f"alert field 'severity' is {document.get('severity')!r}, "
            f"expected one of {', '.join(SEVERITIES)}"
        )
    _check_text(document, "summary", MAX_SUMMARY_LENGTH, required=True)
    _check_text(document, "details", MAX_DETAILS_LENGTH, required=False)
    _check_text(document, "evidence_url", MAX_URL_LENGTH, required=False)
    url = document.get("evidence_url")
    if url is not None and not str(url).lower().startswith(("https://", "http://")):
        raise InvalidEventError("alert field 'evidence_url' must be an http or https URL")
    occurred = document.get("occurred_at")
    moment = parse_timestamp(occurred)
    if moment is None or not isinstance(occurred, str) or not _has_time_zone(occurred):
        raise InvalidEventError(
            "alert field 'occurred_at' must be an ISO-8601 timestamp with a time zone, "
            "for example 2026-01-12T15:00:00Z"
        )
    fields: dict[str, Any] = {key: document[key] for key in known if key in document}
    fields["occurred_at"] = isoformat(moment)
    return Alert(**fields)


def _has_time_zone(text: str) -> bool:
    """Return whether an ISO-8601 datetime string has a date, a time and a zone."""
    date, separator, time_part = text.strip().upper().partition("T")
    if not separator or not date:
        return False
    return time_part.endswith("Z") or "+" in time_part or "-" in time_part


def _check_text(document: dict[str, Any], name: str, max_length: int, *, required: bool) -> None:
    value = document.get(name)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        raise InvalidEventError(f"alert field {name!r} must be a non-empty string")
    if len(value) > max_length:
        raise InvalidEventError(f"alert field {name!r} is longer than {max_length} characters")


def _check_positive_int(document: dict[str, Any], name: str, *, required: bool) -> None:
    value = document.get(name)
    if value is None and not required:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_ID:
        raise InvalidEventError(f"alert field {name!r} must be a positive 64-bit integer")
