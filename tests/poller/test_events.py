"""Envelopes of polled records: topic, key, type, stable ids and interview data."""

from __future__ import annotations

import pytest

from services.poller.events import (
    interview_data,
    interview_deleted_event,
    interview_event,
    organizer_view,
    record_event,
)
from shared.errors import InvalidEventError
from shared.events import Envelope
from shared.topics import CANDIDATE_EVENTS, ORG_EVENTS

RECEIVED = "2026-01-08T12:00:00.000Z"


def test_candidate_keyed_by_its_id() -> None:
    record = {"id": 800000001, "updated_at": "2026-01-08T09:30:00Z"}

    publication = record_event("candidates", record, RECEIVED)

    assert publication.topic == CANDIDATE_EVENTS
    assert publication.key == "800000001"
    assert publication.envelope.type == "candidate.updated"
    assert publication.envelope.resource == "candidate"
    assert publication.envelope.candidate_id == 800000001
    assert publication.envelope.source == "poll"
    assert publication.envelope.action is None
    assert publication.envelope.occurred_at == "2026-01-08T09:30:00.000Z"


def test_application_keyed_by_candidate() -> None:
    record = {"id": 900000001, "candidate_id": 800000001, "updated_at": "2026-01-08T09:30:00Z"}

    publication = record_event("applications", record, RECEIVED)

    assert publication.topic == CANDIDATE_EVENTS
    assert publication.key == "800000001"
    assert publication.envelope.type == "application.updated"
    assert publication.envelope.application_id == 900000001


def test_application_without_candidate_rejected() -> None:
    with pytest.raises(InvalidEventError, match="900000001"):
        record_event("applications", {"id": 900000001, "candidate_id": None}, RECEIVED)


@pytest.mark.parametrize(
    ("resource", "event_type", "key"),
    [
        ("users", "user.updated", "user:7"),
        ("jobs", "job.updated", "job:7"),
        ("sources", "source.updated", "source:7"),
        ("custom_fields", "custom_field.updated", "custom_field:7"),
        ("email_templates", "email_template.updated", "email_template:7"),
        ("job_interviews", "job_interview.updated", "job_interview:7"),
    ],
)
def test_org_records_keyed_by_resource(resource: str, event_type: str, key: str) -> None:
    publication = record_event(resource, {"id": 7, "updated_at": "2026-01-08T09:30:00Z"}, RECEIVED)

    assert publication.topic == ORG_EVENTS
    assert publication.key == key
    assert publication.envelope.type == event_type
    assert publication.envelope.candidate_id is None


def test_record_id_stable_per_version() -> None:
    record = {"id": 7, "updated_at": "2026-01-08T09:30:00Z"}
    changed = {"id": 7, "updated_at": "2026-01-08T09:31:00Z"}

    first = record_event("jobs", record, RECEIVED).envelope.id
    again = record_event("jobs", dict(record), "2026-01-09T00:00:00.000Z").envelope.id

    assert first == again
    assert first != record_event("jobs", changed, RECEIVED).envelope.id


def test_interview_data_carries_panel_and_people() -> None:
    interview = {"id": 5, "application_id": 9, "updated_at": "2026-01-08T09:30:00Z"}
    panel = [{"id": 2, "interview_id": 5}, {"id": 1, "interview_id": 5}]
    organizer = organizer_view(70, "organizer@example.invalid")

    data = interview_data(interview, panel, organizer, candidate_id=8)
    publication = interview_event(data, "sha256:abc", RECEIVED)

    assert data["interviewers"] == [{"id": 1, "interview_id": 5}, {"id": 2, "interview_id": 5}]
    assert data["organizer"] == {"id": 70, "email": "organizer@example.invalid"}
    assert data["candidate_id"] == 8
    assert publication.key == "8"
    assert publication.envelope.type == "interview.updated"
    assert publication.envelope.application_id == 9
    assert Envelope.from_json(publication.envelope.to_json()) == publication.envelope


def test_no_organizer_is_null() -> None:
    assert organizer_view(None, None) is None


def test_interview_deleted_event_shape() -> None:
    publication = interview_deleted_event(5, 8, 9, RECEIVED)

    assert publication.topic == CANDIDATE_EVENTS
    assert publication.key == "8"
    assert publication.envelope.type == "interview.deleted"
    assert publication.envelope.data == {"id": 5, "candidate_id": 8}
    assert publication.envelope.occurred_at is None
    assert publication.envelope.id == interview_deleted_event(5, 8, 9, "later").envelope.id
