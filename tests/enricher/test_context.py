"""The candidate context document, built from literal Harvest V3 records."""

from __future__ import annotations

from typing import Any

from services.enricher.context import CandidateRecords, anonymize, build_context

CANDIDATE: dict[str, Any] = {
    "id": 800000001,
    "first_name": "Testy",
    "last_name": "McTestface",
    "preferred_name": None,
    "company": "Example Corp (fake)",
    "title": "Fake Title",
    "time_zone": "Eastern Time (US & Canada)",
    "email_addresses": [{"value": "testy@example.invalid", "type": "personal"}, {"value": ""}],
    "phone_numbers": [{"value": "+1-555-0100", "type": "mobile"}],
    "addresses": [{"value": "1 Fake Street", "type": "home"}],
    "custom_fields": {
        "identity_verification_status": {
            "name": "Status",
            "type": "single_select",
            "value": "Pending",
        },
        "favorite_color": {"name": "Favorite Color", "type": "short_text", "value": "Blue"},
    },
    "updated_at": "2026-01-08T09:30:00.000Z",
}
RECORDS = CandidateRecords(
    candidate=CANDIDATE,
    applications=[
        {"id": 900000002, "candidate_id": 800000001, "job_id": 300000002, "source_id": None},
        {
            "id": 900000001,
            "candidate_id": 800000001,
            "job_id": 300000001,
            "source_id": 31001,
            "status": "in_process",
            "stage_name": "Technical Interview",
            "prospect": False,
            "created_at": "2026-01-06T14:00:00.000Z",
        },
    ],
    interviews=[
        {
            "id": 510000003,
            "application_id": 900000001,
            "job_id": 300000001,
            "status": "scheduled",
            "starts_at": "2026-01-14T15:00:00.000Z",
            "ends_at": "2026-01-14T16:00:00.000Z",
            "organizer_id": None,
        },
        {
            "id": 510000002,
            "application_id": 900000001,
            "job_id": 300000001,
            "status": "scheduled",
            "starts_at": "2026-01-12T15:00:00.000Z",
            "ends_at": "2026-01-12T16:00:00.000Z",
            "organizer_id": 700000001,
        },
    ],
    interviewers=[
        {
            "id": 1,
            "interview_id": 510000002,
            "user_id": 700000002,
            "email": "eve@corp.example",
            "response_status": "accepted",
        },
        {"id": 2, "interview_id": 510000002, "user_id": None, "email": "guest@partner.example"},
    ],
    jobs={300000001: {"id": 300000001, "name": "Backend Engineer"}},
    sources={31001: {"id": 31001, "name": "LinkedIn"}},
    users={
        700000001: {
            "id": 700000001,
            "name": "Rita Recruiter",
            "primary_email": "rita@corp.example",
        },
        700000002: {"id": 700000002, "first_name": "Eve", "last_name": "Engineer"},
    },
)
PROTECTION = {
    510000002: {
        "type": "interview.protected",
        "provider": "zoom",
        "secure_url": "https://verify.example/l/abc.def",
    }
}


def build(**options: Any) -> dict[str, Any]:
    return build_context(
        RECORDS,
        protection=options.pop("protection", PROTECTION),
        custom_field_keys=options.pop("keys", ["identity_verification_status"]),
        **options,
    )


def test_identity_and_contacts() -> None:
    document = build()

    assert document["candidate_id"] == 800000001
    assert document["anonymized"] is False
    assert document["identity"]["first_name"] == "Testy"
    assert document["identity"]["time_zone"] == "Eastern Time (US & Canada)"
    assert document["emails"] == [{"value": "testy@example.invalid", "type": "personal"}]
    assert document["phones"] == [{"value": "+1-555-0100", "type": "mobile"}]
    assert "addresses" not in document


def test_applications_named_and_sorted() -> None:
    first, second = build()["applications"]

    assert first["id"] == 900000001
    assert first["job_name"] == "Backend Engineer"
    assert first["source_name"] == "LinkedIn"
    assert first["stage_name"] == "Technical Interview"
    assert second["job_name"] is None
    assert second["source_name"] is None


def test_interviews_by_start_with_panel_and_protection() -> None:
    first, second = build()["upcoming_interviews"]

    assert first["id"] == 510000002
    assert first["protected"] is True
    assert first["provider"] == "zoom"
    assert first["secure_url"] == "https://verify.example/l/abc.def"
    assert first["organizer"] == {
        "user_id": 700000001,
        "name": "Rita Recruiter",
        "email": "rita@corp.example",
    }
    assert first["panel"] == [
        {
            "user_id": 700000002,
            "name": "Eve Engineer",
            "email": "eve@corp.example",
            "response_status": "accepted",
        },
        {"user_id": None, "name": None, "email": "guest@partner.example", "response_status": None},
    ]
    assert second["id"] == 510000003
    assert second["protected"] is False
    assert second["organizer"] is None
    assert second["panel"] == []


def test_only_chosen_custom_fields_copied() -> None:
    document = build(keys=["identity_verification_status", "missing_field"])

    assert document["custom_fields"] == {
        "identity_verification_status": "Pending",
        "missing_field": None,
    }


def test_anonymized_drops_personal_fields() -> None:
    document = build(anonymized=True)

    assert document["anonymized"] is True
    assert document["identity"] is None
    assert document["emails"] == []
    assert document["phones"] == []
    assert document["applications"] == build()["applications"]
    assert anonymize(build()) == document


def test_same_records_same_document() -> None:
    assert build() == build()


def test_reference_ids_collects_jobs_sources_users() -> None:
    jobs, sources, users = RECORDS.reference_ids()

    assert jobs == {300000001, 300000002}
    assert sources == {31001}
    assert users == {700000001, 700000002}
