"""Note rendering: the exact text of every kind, the reference line and the status rules."""

from __future__ import annotations

from typing import Any

import pytest

from services.notifier.notes import (
    KIND_TEXT,
    PENDING_FROM,
    format_when,
    has_reference,
    note_request,
    reference_line,
    render_note,
    status_change,
)
from shared.alerts import KINDS, Alert


def alert(kind: str, **fields: Any) -> Alert:
    values: dict[str, Any] = {
        "id": "alert-1",
        "candidate_id": 800000001,
        "kind": kind,
        "severity": "warning",
        "summary": "The summary.",
        "occurred_at": "2026-01-12T15:04:05.000Z",
        **fields,
    }
    return Alert(**values)


EXPECTED_NOTES = {
    "protection_enabled": """\
Greenguard: Interview protection enabled (info)

What happened: Identity verification was switched on for the technical screen.
When: 2026-01-12 15:04:05 UTC, during interview 510000002
Next step: No action needed. The candidate will verify their identity through the secure \
interview link before joining.

Greenguard alert id: alert-1""",
    "verified": """\
Greenguard: Identity verified (info)

What happened: The candidate's ID document and selfie matched.
When: 2026-01-12 15:04:05 UTC, during interview 510000002
Next step: No action needed. Continue the hiring process as planned.
Evidence: https://verify.example.invalid/reports/1

Greenguard alert id: alert-1""",
    "failed": """\
Greenguard: Identity verification failed (warning)

What happened: The ID document could not be validated.
When: 2026-01-12 15:04:05 UTC, during interview 510000002
Details: The document's security features were not visible.
Next step: Do not advance the candidate yet. Contact them to arrange a new verification, and \
review the evidence before the next interview.
Evidence: https://verify.example.invalid/reports/1

Greenguard alert id: alert-1""",
    "mismatch": """\
Greenguard: Identity mismatch (critical)

What happened: The person on camera does not match the ID document.
When: 2026-01-12 15:04:05 UTC, during interview 510000002
Next step: The verified person does not match the candidate on file. Review the evidence and \
escalate to your talent or security team before any further interview.
Evidence: https://verify.example.invalid/reports/1

Greenguard alert id: alert-1""",
    "unable_to_complete": """\
Greenguard: Identity verification not completed (warning)

What happened: The candidate left before finishing verification.
When: 2026-01-12 15:04:05 UTC
Next step: Ask the candidate to complete verification before the next interview, and offer \
help if they reported a problem.

Greenguard alert id: alert-1""",
    "unverified_joiner": """\
Greenguard: Unverified participant joined the interview (warning)

What happened: A second participant joined without verifying.
When: 2026-01-12 15:04:05 UTC, during interview 510000002
Next step: Confirm with the interviewers who attended, review the evidence, and repeat the \
interview with verification if the participant cannot be identified.
Evidence: https://verify.example.invalid/reports/1

Greenguard alert id: alert-1""",
    "link_forwarded": """\
Greenguard: Interview link forwarded (warning)

What happened: The secure link was opened from two devices.
When: 2026-01-12 15:04:05 UTC, during interview 510000002
Next step: The secure interview link was opened by someone other than the candidate. Review \
the evidence, confirm with the candidate, and reschedule with a new link if needed.
Evidence: https://verify.example.invalid/reports/1

Greenguard alert id: alert-1""",
    "deepfake_suspected": """\
Greenguard: Deepfake suspected (critical)

What happened: Face-swap artefacts were detected in the video.
When: 2026-01-12 15:04:05 UTC, during interview 510000002
Details: Confidence 0.93.
Next step: Do not advance the candidate. Review the evidence and escalate to your security \
team before contacting the candidate.
Evidence: https://verify.example.invalid/reports/1

Greenguard alert id: alert-1""",
    "unsupported_meeting_provider": """\
Greenguard: Interview not protected: unsupported meeting provider (warning)

What happened: The interview uses a meeting provider Greenguard cannot protect.
When: 2026-01-12 15:04:05 UTC, during interview 510000002
Next step: Move the interview to a supported video meeting provider so that it can be \
protected, or verify the candidate's identity another way.

Greenguard alert id: alert-1""",
}

ALERTS = {
    "protection_enabled": alert(
        "protection_enabled",
        severity="info",
        summary="Identity verification was switched on for the technical screen.",
        interview_id=510000002,
    ),
    "verified": alert(
        "verified",
        severity="info",
        summary="The candidate's ID document and selfie matched.",
        interview_id=510000002,
        evidence_url="https://verify.example.invalid/reports/1",
    ),
    "failed": alert(
        "failed",
        summary="The ID document could not be validated.",
        interview_id=510000002,
        details="The document's security features were not visible.",
        evidence_url="https://verify.example.invalid/reports/1",
    ),
    "mismatch": alert(
        "mismatch",
        severity="critical",
        summary="The person on camera does not match the ID document.",
        interview_id=510000002,
        evidence_url="https://verify.example.invalid/reports/1",
    ),
    "unable_to_complete": alert(
        "unable_to_complete", summary="The candidate left before finishing verification."
    ),
    "unverified_joiner": alert(
        "unverified_joiner",
        summary="A second participant joined without verifying.",
        interview_id=510000002,
        evidence_url="https://verify.example.invalid/reports/1",
    ),
    "link_forwarded": alert(
        "link_forwarded",
        summary="The secure link was opened from two devices.",
        interview_id=510000002,
        evidence_url="https://verify.example.invalid/reports/1",
    ),
    "deepfake_suspected": alert(
        "deepfake_suspected",
        severity="critical",
        summary="Face-swap artefacts were detected in the video.",
        interview_id=510000002,
        details="Confidence 0.93.",
        evidence_url="https://verify.example.invalid/reports/1",
    ),
    "unsupported_meeting_provider": alert(
        "unsupported_meeting_provider",
        summary="The interview uses a meeting provider Greenguard cannot protect.",
        interview_id=510000002,
    ),
}


def test_every_kind_has_text_and_expectation() -> None:
    assert set(KIND_TEXT) == set(KINDS)
    assert set(EXPECTED_NOTES) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_note_text_per_kind(kind: str) -> None:
    assert render_note(ALERTS[kind]) == EXPECTED_NOTES[kind]


def test_note_carries_reference_line() -> None:
    body = render_note(alert("verified", id="alert-12"))

    assert body.splitlines()[-1] == "Greenguard alert id: alert-12"
    assert has_reference(body, "alert-12")
    assert not has_reference(body, "alert-1")
    assert not has_reference("Greenguard alert id: alert-123", "alert-12")


def test_reference_found_with_surrounding_text() -> None:
    body = "Edited by a recruiter\n  " + reference_line("a b") + "  \nmore"

    assert has_reference(body, "a b")


def test_when_is_converted_to_utc() -> None:
    assert format_when("2026-01-12T17:04:05+02:00") == "2026-01-12 15:04:05 UTC"
    assert format_when("not a time") == "not a time"


def test_note_request_defaults() -> None:
    body = note_request(alert("verified"), visibility="admin_only")

    assert body == {
        "candidate_id": 800000001,
        "body": render_note(alert("verified")),
        "visibility": "admin_only",
        "note_type": "NOTE",
    }


def test_note_request_with_application_and_author() -> None:
    body = note_request(
        alert("failed", application_id=900000001), visibility="private", author_user_id=700000001
    )

    assert body["application_id"] == 900000001
    assert body["user_id"] == 700000001
    assert body["visibility"] == "private"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("verified", ("Verified", None)),
        ("failed", ("Failed", None)),
        ("mismatch", ("Mismatch", None)),
        ("unable_to_complete", ("Unable to Complete", None)),
        ("protection_enabled", ("Pending", PENDING_FROM)),
        ("deepfake_suspected", None),
        ("link_forwarded", None),
        ("unverified_joiner", None),
        ("unsupported_meeting_provider", None),
    ],
)
def test_status_change_per_kind(kind: str, expected: object) -> None:
    assert status_change(alert(kind)) == expected


def test_pending_never_replaces_final_status() -> None:
    assert None in PENDING_FROM
    assert "Not Started" in PENDING_FROM
    for final in ("Verified", "Failed", "Mismatch", "Unable to Complete", "Pending"):
        assert final not in PENDING_FROM
