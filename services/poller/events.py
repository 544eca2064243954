"""Polled Harvest V3 records as event envelopes: their type, topic, key and stable id.

    interview.updated, interview.deleted  greenhouse.candidate-events, keyed by candidate id
    candidate.updated, application.updated  greenhouse.candidate-events, keyed by candidate id
    user.updated, job.updated, source.updated, custom_field.updated, email_template.updated,
    job_interview.updated  greenhouse.org-events, keyed ``<singular>:<id>`` (``job:4001``)

Every envelope has source ``poll`` and action null. A record's event id is derived from the
resource, the record id and its ``updated_at``, so reading the same version twice yields the
same id. An interview's event id is derived from its fingerprint, which also covers its panel.

This module is pure: no Kafka, HTTP or framework imports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidEventError
from shared.events import Envelope, content_id, isoformat, parse_timestamp
from shared.topics import CANDIDATE_EVENTS, ORG_EVENTS, TopicSpec

# Resource path segment -> singular name used in ``resource``, ``type`` and org-event keys.
SINGULAR = {
    "applications": "application",
    "candidates": "candidate",
    "custom_fields": "custom_field",
    "email_templates": "email_template",
    "interviewers": "interviewer",
    "interviews": "interview",
    "job_interviews": "job_interview",
    "jobs": "job",
    "sources": "source",
    "users": "user",
}
CANDIDATE_RESOURCES = frozenset({"applications", "candidates", "interviews"})

INTERVIEW_UPDATED = "interview.updated"
INTERVIEW_DELETED = "interview.deleted"


@dataclass(frozen=True)
class Publication:
    """One envelope and where it goes."""

    topic: TopicSpec
    key: str
    envelope: Envelope


def record_id(record: Mapping[str, Any], resource: str) -> int:
    """Return the record's integer id, or raise InvalidEventError naming the resource."""
    value = record.get("id")
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidEventError(f"a {resource} record has no integer id: {value!r}")
    return value


def occurred_at(record: Mapping[str, Any]) -> str | None:
    """Return the record's ``updated_at`` normalized to ISO-8601 UTC, or None if unparseable."""
    moment = parse_timestamp(record.get("updated_at"))
    return isoformat(moment) if moment is not None else None


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def record_event(resource: str, record: dict[str, Any], received_at: str) -> Publication:
    """Build the ``<singular>.updated`` event of a polled record other than an interview.

    Raises InvalidEventError when the record lacks what its key needs (an application without
    a ``candidate_id``, for example).
    """
    singular = SINGULAR[resource]
    identifier = record_id(record, resource)
    candidate_id: int | None = None
    application_id: int | None = None
    if resource == "candidates":
        candidate_id = identifier
    elif resource == "applications":
        application_id = identifier
        candidate_id = _optional_int(record.get("candidate_id"))
        if candidate_id is None:
            raise InvalidEventError(f"application {identifier} has no candidate_id")

    envelope = Envelope(
        id=content_id(singular, identifier, record.get("updated_at")),
        source="poll",
        type=f"{singular}.updated",
        resource=singular,
        data=record,
        candidate_id=candidate_id,
        application_id=application_id,
        received_at=received_at,
        occurred_at=occurred_at(record),
    )
    if candidate_id is not None:
        return Publication(CANDIDATE_EVENTS, str(candidate_id), envelope)
    return Publication(ORG_EVENTS, f"{singular}:{identifier}", envelope)


def organizer_view(organizer_id: int | None, email: str | None) -> dict[str, Any] | None:
    """Return the ``organizer`` object of an interview event: null without an organizer."""
    if organizer_id is None:
        return None
    return {"id": organizer_id, "email": email}


def interview_data(
    interview: Mapping[str, Any],
    panel: Sequence[Mapping[str, Any]],
    organizer: dict[str, Any] | None,
    candidate_id: int,
) -> dict[str, Any]:
    """Return the ``data`` of an ``interview.updated`` event: the interview and its people.

    The panel is sorted by interviewer row id so that the same panel always reads the same.
    """
    rows = sorted((dict(row) for row in panel), key=lambda row: row.get("id") or 0)
    return {
        **interview,
        "interviewers": rows,
        "organizer": organizer,
        "candidate_id": candidate_id,
    }


def interview_event(data: dict[str, Any], fingerprint: str, received_at: str) -> Publication:
    """Build the ``interview.updated`` event of an interview whose ``data`` is assembled."""
    identifier = record_id(data, "interviews")
    candidate_id = data["candidate_id"]
    envelope = Envelope(
        id=content_id("interview", identifier, fingerprint),
        source="poll",
        type=INTERVIEW_UPDATED,
        resource="interview",
        data=data,
        candidate_id=candidate_id,
        application_id=_optional_int(data.get("application_id")),
        received_at=received_at,
        occurred_at=occurred_at(data),
    )
    return Publication(CANDIDATE_EVENTS, str(candidate_id), envelope)


def interview_deleted_event(
    interview_id: int, candidate_id: int, application_id: int | None, received_at: str
) -> Publication:
    """Build the ``interview.deleted`` event of an upcoming interview that disappeared.

    Its time is unknown (Harvest keeps no trace of deletions), so ``occurred_at`` is null.
    """
    envelope = Envelope(
        id=content_id(INTERVIEW_DELETED, interview_id),
        source="poll",
        type=INTERVIEW_DELETED,
        resource="interview",
        data={"id": interview_id, "candidate_id": candidate_id},
        candidate_id=candidate_id,
        application_id=application_id,
        received_at=received_at,
        occurred_at=None,
    )
    return Publication(CANDIDATE_EVENTS, str(candidate_id), envelope)
