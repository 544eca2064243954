"""Alert notes: the text a recruiter reads on the candidate, and the status each kind sets.

Every note ends with the line ``Greenguard alert id: <id>``. Greenhouse cannot create notes
idempotently, so that line is how the notifier finds a note it may already have written.

This module is pure: no Kafka, HTTP or framework imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.alerts import Alert
from shared.events import parse_timestamp

REFERENCE_PREFIX = "Greenguard alert id: "

# Verification outcomes written to the "Identity Verification Status" field.
STATUS_BY_KIND: dict[str, str] = {
    "verified": "Verified",
    "failed": "Failed",
    "mismatch": "Mismatch",
    "unable_to_complete": "Unable to Complete",
}
# protection_enabled sets Pending, but only over these values: a late protection_enabled must
# never move a final status back to Pending. None means the candidate has no value yet.
PENDING_KIND = "protection_enabled"
PENDING_FROM: frozenset[str | None] = frozenset({None, "Not Started"})


@dataclass(frozen=True)
class KindText:
    """The title of an alert kind in a note, and the next step the note gives the recruiter."""

    title: str
    next_step: str


KIND_TEXT: dict[str, KindText] = {
    "protection_enabled": KindText(
        "Interview protection enabled",
        "No action needed. The candidate will verify their identity through the secure "
        "interview link before joining.",
    ),
    "verified": KindText(
        "Identity verified",
        "No action needed. Continue the hiring process as planned.",
    ),
    "failed": KindText(
        "Identity verification failed",
        "Do not advance the candidate yet. Contact them to arrange a new verification, and "
        "review the evidence before the next interview.",
    ),
    "mismatch": KindText(
        "Identity mismatch",
        "The verified person does not match the candidate on file. Review the evidence and "
        "escalate to your talent or security team before any further interview.",
    ),
    "unable_to_complete": KindText(
        "Identity verification not completed",
        "Ask the candidate to complete verification before the next interview, and offer help "
        "if they reported a problem.",
    ),
    "unverified_joiner": KindText(
        "Unverified participant joined the interview",
        "Confirm with the interviewers who attended, review the evidence, and repeat the "
        "interview with verification if the participant cannot be identified.",
    ),
    "link_forwarded": KindText(
        "Interview link forwarded",
        "The secure interview link was opened by someone other than the candidate. Review the "
        "evidence, confirm with the candidate, and reschedule with a new link if needed.",
    ),
    "deepfake_suspected": KindText(
        "Deepfake suspected",
        "Do not advance the candidate. Review the evidence and escalate to your security team "
        "before contacting the candidate.",
    ),
    "unsupported_meeting_provider": KindText(
        "Interview not protected: unsupported meeting provider",
        "Move the interview to a supported video meeting provider so that it can be protected, "
        "or verify the candidate's identity another way.",
    ),
}


def reference_line(alert_id: str) -> str:
    """Return the note line that names the alert, for example ``Greenguard alert id: a-1``."""
    return f"{REFERENCE_PREFIX}{alert_id}"


def has_reference(body: str, alert_id: str) -> bool:
    """Return whether a note body carries the reference line of exactly this alert."""
    wanted = reference_line(alert_id)
    return any(line.strip() == wanted for line in body.splitlines())


def format_when(occurred_at: str) -> str:
    """Format an alert's ISO-8601 timestamp for people: ``2026-01-12 15:04:05 UTC``."""
    moment = parse_timestamp(occurred_at)
    if moment is None:
        return occurred_at
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def render_note(alert: Alert) -> str:
    """Render the note body: what happened, when, the details, the next step, the evidence."""
    text = KIND_TEXT[alert.kind]
    when = format_when(alert.occurred_at)
    if alert.interview_id is not None:
        when += f", during interview {alert.interview_id}"
    lines = [
        f"Greenguard: {text.title} ({alert.severity})",
        "",
        f"What happened: {alert.summary.strip()}",
        f"When: {when}",
    ]
    if alert.details:
        lines.append(f"Details: {alert.details.strip()}")
    lines.append(f"Next step: {text.next_step}")
    if alert.evidence_url:
        lines.append(f"Evidence: {alert.evidence_url.strip()}")
    lines += ["", reference_line(alert.id)]
    return "\n".join(lines)


def note_request(
    alert: Alert, *, visibility: str, author_user_id: int | None = None
) -> dict[str, Any]:
    """Build the ``POST /v3/notes`` body; the note goes on the application when one is named."""
    body: dict[str, Any] = {
        "candidate_id": alert.candidate_id,
        "body": render_note(alert),
        "visibility": visibility,
        "note_type": "NOTE",
    }
    if alert.application_id is not None:
        body["application_id"] = alert.application_id
    if author_user_id is not None:
        body["user_id"] = author_user_id
    return body


def status_change(alert: Alert) -> tuple[str, frozenset[str | None] | None] | None:
    """Return the status an alert sets and the values it may replace (None: any), or None."""
    status = STATUS_BY_KIND.get(alert.kind)
    if status is not None:
        return status, None
    if alert.kind == PENDING_KIND:
        return "Pending", PENDING_FROM
    return None
