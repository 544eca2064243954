"""The pure mapping from webhook deliveries to events, topics and keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from services.ingest.mapping import ROUTES, normalize, route_for
from shared.topics import CANDIDATE_EVENTS, ORG_EVENTS

DATA = Path(__file__).parent.parent / "data" / "webhooks"
RECEIVED_AT = "2026-12-04T12:00:00.000Z"

# file -> (topic, key, type, candidate_id, application_id)
EXPECTED: dict[str, tuple[Any, str, str, int | None, int | None]] = {
    "webhook-application_updated.json": (
        CANDIDATE_EVENTS,
        "13857579",
        "application.updated",
        13857579,
        22202940,
    ),
    "webhook-candidate_stage_change.json": (
        CANDIDATE_EVENTS,
        "800000001",
        "application.stage_changed",
        800000001,
        900000001,
    ),
    "webhook-delete_candidate.json": (
        CANDIDATE_EVENTS,
        "37031511",
        "candidate.deleted",
        37031511,
        None,
    ),
    "webhook-hire_candidate.json": (
        CANDIDATE_EVENTS,
        "35897443",
        "application.hired",
        35897443,
        46194062,
    ),
    "webhook-interview_deleted.json": (
        CANDIDATE_EVENTS,
        "interview:510000001",
        "interview.deleted",
        None,
        None,
    ),
    "webhook-job_created.json": (ORG_EVENTS, "job:371417", "job.created", None, None),
    "webhook-job_post_updated.json": (
        ORG_EVENTS,
        "job_post:1813002",
        "job_post.updated",
        None,
        None,
    ),
    "webhook-merge_candidate.json": (
        CANDIDATE_EVENTS,
        "800000002",
        "candidate.merged",
        800000002,
        None,
    ),
    "webhook-new_candidate_application.json": (
        CANDIDATE_EVENTS,
        "60304594",
        "application.created",
        60304594,
        71980812,
    ),
    "webhook-offer_created.json": (CANDIDATE_EVENTS, "offer:12345", "offer.created", None, 234556),
    "webhook-reject_candidate.json": (
        CANDIDATE_EVENTS,
        "265788",
        "application.rejected",
        265788,
        265293,
    ),
    "webhook-scorecard_deleted.json": (
        CANDIDATE_EVENTS,
        "29843272",
        "scorecard.deleted",
        29843272,
        None,
    ),
    "webhook-update_candidate.json": (
        CANDIDATE_EVENTS,
        "15696179",
        "candidate.updated",
        15696179,
        None,
    ),
}


def load(name: str) -> tuple[bytes, dict[str, Any]]:
    body = (DATA / name).read_bytes()
    return body, orjson.loads(body)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_routes(name: str) -> None:
    body, document = load(name)
    topic, key, event_type, candidate_id, application_id = EXPECTED[name]
    delivery = normalize(body, document, event_id="evt-1", received_at=RECEIVED_AT)
    assert delivery.topic is topic
    assert delivery.key == key
    assert delivery.envelope.type == event_type
    assert delivery.envelope.candidate_id == candidate_id
    assert delivery.envelope.application_id == application_id
    assert delivery.envelope.data == document["payload"]
    assert delivery.envelope.action == document["action"]


def test_every_documented_action_is_routed() -> None:
    assert len(ROUTES) == 29
    assert len({route.type for route in ROUTES.values()}) == 29


def test_unknown_action_still_published() -> None:
    route = route_for("brand_new_action")
    assert route.type == "unknown.brand_new_action"
    assert route.topic is ORG_EVENTS
    body = b'{"action":"brand_new_action","payload":{"x":1}}'
    delivery = normalize(body, orjson.loads(body), event_id=None, received_at=RECEIVED_AT)
    assert delivery.key == "action:brand_new_action"
    assert delivery.envelope.id.startswith("sha256:")


def test_missing_event_id_uses_body_hash() -> None:
    body, document = load("webhook-update_candidate.json")
    first = normalize(body, document, event_id=None, received_at=RECEIVED_AT)
    second = normalize(body, document, event_id=None, received_at="2026-12-05T00:00:00.000Z")
    assert first.envelope.id == second.envelope.id


def test_odd_payload_shapes_do_not_raise() -> None:
    for payload in (None, [], "text", {"application": "not an object"}, {"person": {"id": "x"}}):
        document = {"action": "application_updated", "payload": payload}
        body = orjson.dumps(document)
        delivery = normalize(body, document, event_id="e", received_at=RECEIVED_AT)
        assert delivery.envelope.candidate_id is None
        assert delivery.topic is CANDIDATE_EVENTS


def test_occurred_at_from_last_activity() -> None:
    body, document = load("webhook-reject_candidate.json")
    delivery = normalize(body, document, event_id="e", received_at=RECEIVED_AT)
    assert delivery.envelope.occurred_at == "2015-02-11T15:50:41.000Z"
