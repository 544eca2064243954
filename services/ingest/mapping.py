"""Map a verified Greenhouse webhook delivery to a normalized event, its topic and its key.

Pure functions over the decoded body: no Kafka, HTTP or framework imports. The routing table
below is the documented mapping (README, "Webhook actions"). An action missing from it is still
published, as type ``unknown.<action>``, because Greenhouse may add actions at any time and a
delivery that got 200 must never be dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.events import Envelope, content_id, isoformat, parse_timestamp
from shared.topics import CANDIDATE_EVENTS, ORG_EVENTS, TopicSpec


@dataclass(frozen=True)
class Route:
    """Routing of one action: its normalized type, its resource and its topic."""

    type: str
    resource: str
    topic: TopicSpec


def _candidate(event_type: str, resource: str) -> Route:
    return Route(event_type, resource, CANDIDATE_EVENTS)


def _org(event_type: str, resource: str) -> Route:
    return Route(event_type, resource, ORG_EVENTS)


ROUTES: dict[str, Route] = {
    "new_candidate_application": _candidate("application.created", "application"),
    "new_prospect_application": _candidate("application.prospect_created", "application"),
    "application_updated": _candidate("application.updated", "application"),
    "delete_application": _candidate("application.deleted", "application"),
    "candidate_stage_change": _candidate("application.stage_changed", "application"),
    "hire_candidate": _candidate("application.hired", "application"),
    "unhire_candidate": _candidate("application.unhired", "application"),
    "reject_candidate": _candidate("application.rejected", "application"),
    "unreject_candidate": _candidate("application.unrejected", "application"),
    "update_candidate": _candidate("candidate.updated", "candidate"),
    "delete_candidate": _candidate("candidate.deleted", "candidate"),
    "merge_candidate": _candidate("candidate.merged", "candidate"),
    "candidate_anonymized": _candidate("candidate.anonymized", "candidate"),
    "offer_created": _candidate("offer.created", "offer"),
    "offer_approved": _candidate("offer.approved", "offer"),
    "offer_updated": _candidate("offer.updated", "offer"),
    "offer_deleted": _candidate("offer.deleted", "offer"),
    "interview_deleted": _candidate("interview.deleted", "interview"),
    "scorecard_deleted": _candidate("scorecard.deleted", "scorecard"),
    "job_created": _org("job.created", "job"),
    "job_updated": _org("job.updated", "job"),
    "job_approved": _org("job.approved", "job"),
    "job_deleted": _org("job.deleted", "job"),
    "job_post_created": _org("job_post.created", "job_post"),
    "job_post_updated": _org("job_post.updated", "job_post"),
    "job_post_deleted": _org("job_post.deleted", "job_post"),
    "job_interview_stage_deleted": _org("job_interview_stage.deleted", "job_interview_stage"),
    "department_deleted": _org("department.deleted", "department"),
    "office_deleted": _org("office.deleted", "office"),
}

PING_ACTION = "ping"


@dataclass(frozen=True)
class Delivery:
    """A normalized event with the topic and key it is published under."""

    envelope: Envelope
    topic: TopicSpec
    key: str


def route_for(action: str) -> Route:
    """Return the route of ``action``; unknown actions go to the org topic as ``unknown.*``."""
    return ROUTES.get(action) or _org(f"unknown.{action}", "unknown")


def normalize(
    body: bytes,
    document: dict[str, Any],
    *,
    event_id: str | None,
    received_at: str,
) -> Delivery:
    """Build the event for a verified delivery whose decoded body is ``document``.

    ``document`` must be an object with a string ``action`` (the caller checks that). A missing
    ``payload`` or odd shapes never raise: the delivery is signed by Greenhouse and is kept,
    with ids left null where the payload does not carry them.
    """
    action: str = document["action"]
    payload = document.get("payload")
    data: dict[str, Any] = payload if isinstance(payload, dict) else {}
    route = route_for(action)
    root = _resource_object(route.resource, data)

    candidate_id = _candidate_id(route.resource, data, root)
    application_id = _application_id(route.resource, data, root)
    resource_id = _as_id(root.get("id"))

    envelope = Envelope(
        id=event_id or content_id(body),
        source="webhook",
        action=action,
        type=route.type,
        resource=route.resource,
        candidate_id=candidate_id,
        application_id=application_id,
        received_at=received_at,
        occurred_at=_occurred_at(root),
        data=data,
    )
    key = _key(route, action, candidate_id, resource_id, envelope.id)
    return Delivery(envelope=envelope, topic=route.topic, key=key)


def _resource_object(resource: str, data: dict[str, Any]) -> dict[str, Any]:
    """Return the object the event is about; payload shapes differ by action."""
    for name in (resource, "person"):
        value = data.get(name)
        if isinstance(value, dict):
            return value
    return data  # offers, job posts and candidate_anonymized carry no wrapper


def _candidate_id(resource: str, data: dict[str, Any], root: dict[str, Any]) -> int | None:
    if resource == "candidate":
        return _as_id(root.get("id")) or _as_id(data.get("candidate_id"))
    if resource == "application":
        candidate = root.get("candidate")
        nested = _as_id(candidate.get("id")) if isinstance(candidate, dict) else None
        return nested or _as_id(root.get("candidate_id"))
    return _as_id(root.get("candidate_id"))


def _application_id(resource: str, data: dict[str, Any], root: dict[str, Any]) -> int | None:
    if resource == "application":
        return _as_id(root.get("id"))
    return _as_id(root.get("application_id"))


def _occurred_at(root: dict[str, Any]) -> str | None:
    for name in ("updated_at", "last_activity_at"):
        moment = parse_timestamp(root.get(name))
        if moment is not None:
            return isoformat(moment)
    return None


def _key(
    route: Route, action: str, candidate_id: int | None, resource_id: int | None, event_id: str
) -> str:
    """Key candidate events by candidate id, everything else by ``<resource>:<id>``.

    Offers and interview deletions carry no candidate id: they keep their own key, so their
    order relative to the candidate's other events is not guaranteed.
    """
    if route.topic is CANDIDATE_EVENTS and candidate_id is not None:
        return str(candidate_id)
    if route.resource == "unknown":
        return f"action:{action}"
    if resource_id is not None:
        return f"{route.resource}:{resource_id}"
    return f"{route.resource}:{event_id}"


MAX_ID = 2**63 - 1  # Greenhouse ids are 64-bit; anything larger is not an id


def _as_id(value: object) -> int | None:
    """Return a positive 64-bit integer id, accepting ASCII decimal strings; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, int) and 0 < value <= MAX_ID:
        return value
    return None
