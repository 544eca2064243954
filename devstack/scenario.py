"""The demo scenario of ``make run`` and ``make demo``, and the checks of its effects.

It runs against the ``demo`` seed of the fake Greenhouse. The recruiter and the HR partner
become protected users, and signed sample deliveries are posted. Over about a minute, one
interview is rescheduled, one is scheduled on Webex, and a panel gains a protected user. Then
verification alerts arrive for three candidates. ``expected_effects`` lists what must be true in the fake
Greenhouse afterwards.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from devstack.processes import greenguard_command
from devstack.stack import WEBHOOK_SECRET, Stack
from services.ingest.signature import sign

SAMPLES = Path(__file__).parent / "samples" / "webhooks"
PROTECTED = ("rita.recruiter@acme-robotics.example", "hana.hr@acme-robotics.example")
STATUS_FIELD = "identity_verification_status"
LINK_FIELD = "secure_interview_link"
Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoPeople:
    """Ids in the fake that the scenario acts on, looked up by candidate first name."""

    candidates: dict[str, int]
    interviews: dict[str, int]
    users: dict[str, int]


def admin(stack: Stack, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{stack.fake_url}/admin/{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def look_up(stack: Stack) -> DemoPeople:
    candidates = {c["first_name"]: c["id"] for c in admin(stack, "GET", "candidates")}
    applications = {a["id"]: a["candidate_id"] for a in admin(stack, "GET", "applications")}
    by_candidate = {v: k for k, v in candidates.items()}
    interviews = {
        by_candidate[applications[i["application_id"]]]: i["id"]
        for i in admin(stack, "GET", "interviews")
    }
    users = {u["first_name"]: u["id"] for u in admin(stack, "GET", "users")}
    return DemoPeople(candidates=candidates, interviews=interviews, users=users)


def greenguard(stack: Stack, *args: str) -> str:
    """Run an operator command against the stack and return its output; raise on failure."""
    result = subprocess.run(  # noqa: S603 (our own command line)
        greenguard_command(*args),
        env={**os.environ, **stack.operator_env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"greenguard {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def protect_users(stack: Stack, say: Say) -> None:
    greenguard(stack, "protected-users", "add", *PROTECTED)
    say(f"protected users: {', '.join(PROTECTED)}")


def post_samples(stack: Stack, say: Say) -> int:
    """Post every sample delivery, signed as Greenhouse signs; return how many got 200."""
    accepted = 0
    with httpx.Client(base_url=stack.ingest_url, timeout=10) as client:
        for path in sorted(SAMPLES.glob("*.json")):
            body = path.read_bytes()
            response = client.post(
                "/webhooks/greenhouse",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "Signature": sign(body, WEBHOOK_SECRET.encode()),
                    "Greenhouse-Event-ID": f"demo-{path.stem}-{uuid.uuid4().hex[:8]}",
                },
            )
            action = path.stem.removeprefix("webhook-")
            say(f"webhook {action} delivered: HTTP {response.status_code}")
            accepted += response.status_code == 200
    return accepted


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def change_interviews(stack: Stack, people: DemoPeople, say: Say, pause: float) -> None:
    """Reschedule, schedule and re-panel interviews in the fake, ``pause`` seconds apart."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=4)
    dana = people.interviews["Dana"]
    admin(
        stack,
        "PATCH",
        f"interviews/{dana}",
        {"starts_at": _iso(start), "ends_at": _iso(start + timedelta(hours=1))},
    )
    say(f"interview {dana} (Dana) rescheduled in Greenhouse to {_iso(start)}")
    time.sleep(pause)

    jon = people.interviews["Jon"]
    later = start + timedelta(days=1)
    admin(
        stack,
        "PATCH",
        f"interviews/{jon}",
        {
            "status": "scheduled",
            "starts_at": _iso(later),
            "ends_at": _iso(later + timedelta(hours=1)),
            "video_conferencing_url": "https://acme.webex.com/meet/demo-jon",
            "organizer_id": people.users["Bob"],
        },
    )
    admin(
        stack,
        "PUT",
        f"interviews/{jon}/interviewers",
        {"interviewers": [{"user_id": people.users["Hana"]}]},
    )
    say(f"interview {jon} (Jon) scheduled on Webex with Hana on the panel")
    time.sleep(pause)

    ines = people.interviews["Ines"]
    panel = [{"user_id": people.users[name]} for name in ("Alice", "Bob", "Rita")]
    admin(stack, "PUT", f"interviews/{ines}/interviewers", {"interviewers": panel})
    say(f"interview {ines} (Ines) gains Rita on its panel")


def send_alerts(stack: Stack, people: DemoPeople, say: Say) -> None:
    alerts = (
        ("Dana", "verified", "info", "Identity verified against a government ID."),
        ("Eli", "deepfake_suspected", "critical", "Face-swap artefacts detected on video."),
        ("Fay", "failed", "warning", "The ID document could not be matched."),
    )
    for name, kind, severity, summary in alerts:
        arguments = [
            "alerts",
            "send",
            "--candidate-id",
            str(people.candidates[name]),
            "--kind",
            kind,
            "--severity",
            severity,
            "--summary",
            summary,
            "--interview-id",
            str(people.interviews[name]),
        ]
        if kind == "deepfake_suspected":
            arguments += ["--evidence-url", "https://verify.example/evidence/eli"]
        greenguard(stack, *arguments)
        say(f"verification alert {kind} sent for {name}")


def expected_effects(people: DemoPeople) -> dict[str, dict[str, Any]]:
    """Return, per candidate first name, the custom field values and notes expected."""
    return {
        # Dana's interview is rescheduled: a new time gives a new link and a second note.
        "Dana": {
            "status": "Verified",
            "link": True,
            "notes": ("protection_enabled", "protection_enabled", "verified"),
        },
        "Eli": {"status": "Pending", "link": True, "notes": ("protection_enabled", "deepfake")},
        "Fay": {"status": "Failed", "link": True, "notes": ("protection_enabled", "failed")},
        "Gus": {"status": None, "link": False, "notes": ("unsupported_meeting_provider",)},
        "Ines": {"status": "Pending", "link": True, "notes": ("protection_enabled",)},
        "Jon": {"status": "Pending", "link": True, "notes": ("protection_enabled",)},
    }


# Lower-cased words of each kind's note title.
NOTE_MARKERS = {
    "protection_enabled": "interview protection enabled",
    "verified": "identity verified",
    "deepfake": "deepfake suspected",
    "failed": "identity verification failed",
    "unsupported_meeting_provider": "unsupported meeting provider",
}


def check_effects(stack: Stack, people: DemoPeople) -> list[tuple[str, str, bool]]:
    """Return (candidate, check, passed) rows comparing the fake with ``expected_effects``."""
    rows: list[tuple[str, str, bool]] = []
    for name, expected in expected_effects(people).items():
        candidate_id = people.candidates[name]
        fields = admin(stack, "GET", f"candidates/{candidate_id}/custom_fields")
        notes = admin(stack, "GET", f"candidates/{candidate_id}/notes")
        status = (fields.get(STATUS_FIELD) or {}).get("value")
        link = (fields.get(LINK_FIELD) or {}).get("value")
        if expected["status"] is not None:
            rows.append((name, f"status is {expected['status']}", status == expected["status"]))
        rows.append(
            (
                name,
                "secure link set" if expected["link"] else "no secure link",
                bool(link) == expected["link"],
            )
        )
        bodies = [str(note.get("body", "")).lower() for note in notes]
        for kind in sorted(set(expected["notes"])):
            wanted = expected["notes"].count(kind)
            found = sum(NOTE_MARKERS[kind] in body for body in bodies)
            rows.append((name, f"{wanted} {kind} note(s) written", found == wanted))
        references = [line for body in bodies for line in body.splitlines() if "alert id" in line]
        rows.append((name, "no duplicate notes", len(references) == len(set(references))))
    return rows
