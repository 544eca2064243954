"""End to end: every process as a subprocess against the embedded broker and the fake Greenhouse.

A signed webhook from the fake's sender and a polled interview with a protected interviewer
produce the custom fields, the interview.protected event and the note. A verification alert
then produces one note and sets the status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from devstack.scenario import greenguard
from devstack.stack import WEBHOOK_SECRET, Stack, StackOptions
from shared.events import Envelope
from shared.kafka import read_to_end
from shared.settings import KafkaSettings
from shared.topics import CANDIDATE_EVENTS, PROTECTED_MEETINGS
from tests.helpers import wait_until

pytestmark = pytest.mark.integration

RECRUITER = "pat.protected@example.invalid"


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(StackOptions(run_dir=tmp_path_factory.mktemp("stack"), seed="empty"))

    def protect(started: Stack) -> None:
        greenguard(started, "protected-users", "add", RECRUITER)

    running.before_services.append(protect)
    try:
        running.start()
        yield running
    finally:
        statuses = running.stop()
        logs = Path(running.options.run_dir)
        for name in ("ingest", "poller", "enricher", "notifier"):
            assert statuses.get(name) == 0, (logs / f"{name}.log").read_text()[-3000:]


async def admin(stack: Stack, method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.request(method, f"{stack.fake_url}/admin/{path}", json=body)
    response.raise_for_status()
    return response.json()


def kafka(stack: Stack) -> KafkaSettings:
    return KafkaSettings.load(kafka_bootstrap_servers=stack.broker.bootstrap_servers)


async def records(stack: Stack, spec: Any) -> list[bytes]:
    rows = await read_to_end(kafka(stack), spec)
    return [value for _key, value, _p, _o in rows if value is not None]


async def test_webhook_interview_and_alert(stack: Stack) -> None:
    recruiter = await admin(
        stack,
        "POST",
        "users",
        {"first_name": "Pat", "last_name": "Protected", "primary_email": RECRUITER},
    )
    job = await admin(stack, "POST", "jobs", {"name": "Site Reliability Engineer"})
    candidate = await admin(stack, "POST", "candidates", {"first_name": "Quinn", "last_name": "Q"})
    application = await admin(
        stack, "POST", "applications", {"candidate_id": candidate["id"], "job_id": job["id"]}
    )

    # A signed delivery, as Greenhouse's sender makes it.
    delivery = await admin(
        stack,
        "POST",
        "webhooks",
        {
            "url": f"{stack.ingest_url}/webhooks/greenhouse",
            "secret": WEBHOOK_SECRET,
            "action": "update_candidate",
            "payload": {"candidate": {"id": candidate["id"], "first_name": "Quinn <Q>"}},
        },
    )

    async def delivered() -> bool:
        status = await admin(stack, "GET", f"webhooks/{delivery['id']}")
        return status.get("status") == "delivered"

    await wait_until(delivered, timeout=30, message="the webhook delivery")
    events = [Envelope.from_json(value) for value in await records(stack, CANDIDATE_EVENTS)]
    assert any(
        event.type == "candidate.updated" and event.candidate_id == candidate["id"]
        for event in events
    )

    # An interview the poller must find: a protected interviewer and a Zoom link.
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    interview = await admin(
        stack,
        "POST",
        "interviews",
        {
            "application_id": application["id"],
            "job_id": job["id"],
            "status": "scheduled",
            "starts_at": iso(start),
            "ends_at": iso(start + timedelta(hours=1)),
            "video_conferencing_url": "https://example.zoom.us/j/123456789",
            "interviewers": [{"user_id": recruiter["id"]}],
        },
    )

    async def protected_published() -> bool:
        documents = [orjson.loads(value) for value in await records(stack, PROTECTED_MEETINGS)]
        return any(
            doc.get("type") == "interview.protected" and doc.get("interview_id") == interview["id"]
            for doc in documents
        )

    await wait_until(protected_published, timeout=60, message="interview.protected")

    async def fields() -> dict[str, Any]:
        path = f"candidates/{candidate['id']}/custom_fields"
        values: dict[str, Any] = await admin(stack, "GET", path)
        return {key: (value or {}).get("value") for key, value in values.items()}

    async def notes() -> list[str]:
        path = f"candidates/{candidate['id']}/notes"
        return [str(note["body"]) for note in await admin(stack, "GET", path)]

    async def protection_done() -> bool:
        values = await fields()
        return (
            values.get("secure_interview_link") is not None
            and values.get("identity_verification_status") == "Pending"
            and any("Interview protection enabled" in body for body in await notes())
        )

    await wait_until(
        protection_done,
        timeout=60,
        message="the secure link, the Pending status and the protection note",
    )
    link = (await fields())["secure_interview_link"]
    assert link.startswith(f"{stack.ingest_url}/l/")

    # The secure link redirects to the meeting.
    async with httpx.AsyncClient(timeout=10) as client:
        redirect = await client.get(link, follow_redirects=False)
    assert redirect.status_code == 302
    assert redirect.headers["location"] == "https://example.zoom.us/j/123456789"

    # A verification alert becomes exactly one note and sets the status.
    await asyncio.to_thread(
        greenguard,
        stack,
        "alerts",
        "send",
        "--candidate-id",
        str(candidate["id"]),
        "--kind",
        "verified",
        "--summary",
        "Identity verified against a passport.",
        "--id",
        "e2e-verified-1",
    )

    async def verified() -> bool:
        return (await fields()).get("identity_verification_status") == "Verified"

    await wait_until(verified, timeout=60, message="the Verified status")
    verified_notes = [body for body in await notes() if "e2e-verified-1" in body]
    assert len(verified_notes) == 1
    assert "Identity verified" in verified_notes[0]
    protection_notes = [body for body in await notes() if "Interview protection enabled" in body]
    assert len(protection_notes) == 1
