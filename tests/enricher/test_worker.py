"""The enricher end to end: the embedded broker, the fake Greenhouse over HTTP, a real worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from devstack.fake_greenhouse import FakeGreenhouse
from devstack.fake_greenhouse.faults import Fault
from services.enricher.main import TOPICS, EnricherWorker
from services.enricher.settings import EnricherSettings
from shared.consumer import PipelineOptions
from shared.events import Envelope, isoformat
from shared.greenhouse import HarvestClient
from shared.health import Health
from shared.kafka import Publisher, ensure_topics, read_to_end
from shared.links import verify_link
from shared.operator.common import ClusterReader, header_text
from shared.protected_users import encode_user
from shared.topics import (
    CANDIDATE_CONTEXT,
    CANDIDATE_EVENTS,
    DEAD_LETTER,
    PROTECTED_MEETINGS,
    PROTECTED_USERS,
    VERIFICATION_ALERTS,
    topic_name,
)
from tests.helpers import wait_until

pytestmark = pytest.mark.integration

SIGNING_KEY = "worker-test-signing-key-" + "z" * 16
BASE_URL = "https://verify.example/l"
RECRUITER = "rita.recruiter@corp.example"
STATUS_KEY = "identity_verification_status"
LINK_KEY = "secure_interview_link"


class Crash(BaseException):
    """Ends a worker the way a killed process would: no handler catches it."""


@pytest.fixture
def fake() -> Iterator[FakeGreenhouse]:
    with FakeGreenhouse() as server:
        yield server


@pytest.fixture
def settings(fake: FakeGreenhouse, make_settings: Callable[..., Any]) -> EnricherSettings:
    settings: EnricherSettings = make_settings(
        EnricherSettings,
        greenguard_link_base_url=BASE_URL,
        greenguard_link_signing_key=SIGNING_KEY,
        greenhouse_client_id=fake.client_id,
        greenhouse_client_secret=fake.client_secret,
        greenhouse_token_url=fake.token_url,
        greenhouse_introspect_url=fake.introspect_url,
        greenhouse_api_url=fake.api_url,
        shutdown_grace_seconds=5.0,
    )
    return settings


@pytest.fixture
async def publisher(settings: EnricherSettings) -> AsyncIterator[Publisher]:
    await ensure_topics(settings, TOPICS)
    producer = Publisher(settings)
    await producer.start()
    await producer.publish(PROTECTED_USERS, RECRUITER, encode_user(RECRUITER, datetime.now(UTC)))
    yield producer
    await producer.stop()


def new_worker(settings: EnricherSettings) -> EnricherWorker:
    return EnricherWorker(
        settings,
        Health(),
        options=PipelineOptions(
            max_attempts=3, backoff_initial_seconds=0.01, commit_interval_seconds=0.05
        ),
        client=HarvestClient(settings, backoff_seconds=0.01),
    )


@dataclass
class Running:
    """A worker running in a background task."""

    worker: EnricherWorker
    task: asyncio.Task[None]

    @property
    def handled(self) -> int:
        pipeline = self.worker.pipeline
        return pipeline.handled + pipeline.abandoned if pipeline else 0

    async def wait_handled(self, count: int) -> None:
        def done() -> bool:
            if self.task.done():
                self.task.result()  # surfaces the worker's error
            pipeline = self.worker.pipeline
            return pipeline is not None and pipeline.handled >= count

        await wait_until(done, timeout=30, message=f"{count} records handled")

    async def stop(self) -> None:
        self.worker.stop()
        await self.task


@pytest.fixture
async def start_worker(
    settings: EnricherSettings, publisher: Publisher
) -> AsyncIterator[Callable[[], Any]]:
    running: list[Running] = []

    async def start() -> Running:
        worker = new_worker(settings)
        await worker.start()
        entry = Running(worker, asyncio.create_task(worker.run()))
        running.append(entry)
        return entry

    yield start
    for entry in running:
        if not entry.task.done():
            await entry.stop()


# Seeding the fake


@dataclass
class Org:
    """Records seeded into the fake for one test."""

    fake: FakeGreenhouse
    recruiter: dict[str, Any]
    engineer: dict[str, Any]
    job: dict[str, Any]
    source: dict[str, Any]
    candidates: list[int] = field(default_factory=list)

    def candidate(self) -> tuple[int, int]:
        """Add a candidate with one application; return their ids."""
        state = self.fake.state
        candidate = state.insert(
            "candidates",
            {
                "first_name": "Testy",
                "last_name": "McTestface",
                "email_addresses": [{"value": "testy@example.invalid", "type": "personal"}],
                "phone_numbers": [{"value": "+1-555-0100", "type": "mobile"}],
            },
        )
        application = state.insert(
            "applications",
            {
                "candidate_id": candidate["id"],
                "job_id": self.job["id"],
                "source_id": self.source["id"],
                "stage_name": "Technical Interview",
            },
        )
        return candidate["id"], application["id"]

    def interview(
        self,
        application_id: int,
        *,
        video: str | None = "https://us02web.zoom.us/j/85512345678?pwd=abc",
        location: str | None = None,
        organizer: dict[str, Any] | None = None,
        starts_in: timedelta = timedelta(days=2),
    ) -> dict[str, Any]:
        start = datetime.now(UTC).replace(microsecond=0) + starts_in
        organizer = organizer if organizer is not None else self.recruiter
        interview: dict[str, Any] = self.fake.state.insert(
            "interviews",
            {
                "application_id": application_id,
                "job_id": self.job["id"],
                "status": "scheduled",
                "starts_at": isoformat(start),
                "ends_at": isoformat(start + timedelta(hours=1)),
                "video_conferencing_url": video,
                "location": location,
                "organizer_id": organizer["id"],
                "external_event_id": f"calendar-event-{application_id}",
            },
        )
        self.fake.state.set_panel(interview["id"], [{"user_id": self.engineer["id"]}])
        return interview

    def interview_event(self, interview_id: int, candidate_id: int) -> Envelope:
        """Build the poller's ``interview.updated`` event from the fake's current records."""
        state = self.fake.state
        interview = dict(state.get("interviews", interview_id))
        organizer = state.get("users", interview["organizer_id"])
        data = {
            **interview,
            "interviewers": [dict(row) for row in state.panel(interview_id)],
            "organizer": {"id": organizer["id"], "email": organizer["primary_email"]},
            "candidate_id": candidate_id,
        }
        return Envelope(
            id=f"poll:interview:{interview_id}:{interview['updated_at']}",
            source="poll",
            type="interview.updated",
            resource="interview",
            data=data,
            candidate_id=candidate_id,
            application_id=interview["application_id"],
        )


@pytest.fixture
def org(fake: FakeGreenhouse) -> Org:
    state = fake.state
    return Org(
        fake=fake,
        recruiter=state.insert(
            "users",
            {"first_name": "Rita", "last_name": "Recruiter", "primary_email": RECRUITER},
        ),
        engineer=state.insert(
            "users",
            {"first_name": "Eve", "last_name": "Engineer", "primary_email": "eve@corp.example"},
        ),
        job=state.insert("jobs", {"name": "Backend Engineer"}),
        source=state.insert("sources", {"name": "LinkedIn"}),
    )


def webhook_event(
    kind: str, resource: str, data: dict[str, Any], candidate_id: int | None
) -> Envelope:
    return Envelope(
        id=f"webhook:{kind}:{candidate_id}:{len(orjson.dumps(data))}",
        source="webhook",
        type=kind,
        resource=resource,
        data=data,
        candidate_id=candidate_id,
    )


async def send(publisher: Publisher, envelope: Envelope, key: int | str | None = None) -> None:
    record_key = str(key if key is not None else envelope.candidate_id)
    await publisher.publish(
        CANDIDATE_EVENTS, record_key, envelope.to_json(), envelope.kafka_headers()
    )


# Reading the outcome


async def documents(settings: EnricherSettings, spec: Any) -> list[tuple[str | None, Any]]:
    records = await read_to_end(settings, spec)
    return [
        (key, orjson.loads(value) if value is not None else None) for key, value, _, _ in records
    ]


async def meetings(settings: EnricherSettings) -> list[dict[str, Any]]:
    return [document for _key, document in await documents(settings, PROTECTED_MEETINGS)]


async def alerts(settings: EnricherSettings, kind: str) -> list[dict[str, Any]]:
    found = await documents(settings, VERIFICATION_ALERTS)
    return [document for _key, document in found if document["kind"] == kind]


async def contexts(settings: EnricherSettings, candidate_id: int) -> list[Any]:
    found = await documents(settings, CANDIDATE_CONTEXT)
    return [document for key, document in found if key == str(candidate_id)]


def field_value(fake: FakeGreenhouse, candidate_id: int, name_key: str) -> Any:
    with fake.state.lock:
        view = fake.state.candidate_view(fake.state.get("candidates", candidate_id))
    return view["custom_fields"][name_key]["value"]


def patches(fake: FakeGreenhouse, candidate_id: int) -> int:
    with fake.state.lock:
        return fake.state.request_counts[("PATCH", f"/v3/candidates/{candidate_id}")]


# Meeting protection


async def test_protected_interview_effects(
    org: Org, settings: EnricherSettings, publisher: Publisher, start_worker: Any
) -> None:
    candidate_id, application_id = org.candidate()
    interview = org.interview(application_id)
    running = await start_worker()

    await send(publisher, org.interview_event(interview["id"], candidate_id))
    await running.wait_handled(1)

    [protected] = await meetings(settings)
    assert protected["type"] == "interview.protected"
    assert protected["interview_id"] == interview["id"]
    assert protected["candidate_id"] == candidate_id
    assert protected["application_id"] == application_id
    assert protected["external_event_id"] == interview["external_event_id"]
    assert protected["original_url"] == interview["video_conferencing_url"]
    assert protected["protected_participants"] == [RECRUITER]
    token = protected["secure_url"].removeprefix(BASE_URL + "/")
    claims = verify_link(token, [SIGNING_KEY], datetime.now(UTC))
    assert claims.url == interview["video_conferencing_url"]
    assert field_value(org.fake, candidate_id, LINK_KEY) == protected["secure_url"]
    assert field_value(org.fake, candidate_id, STATUS_KEY) == "Pending"
    [alert] = await alerts(settings, "protection_enabled")
    assert alert["interview_id"] == interview["id"]
    assert alert["candidate_id"] == candidate_id
    context = (await contexts(settings, candidate_id))[-1]
    assert context["identity"]["first_name"] == "Testy"
    assert context["applications"][0]["job_name"] == "Backend Engineer"
    assert context["applications"][0]["source_name"] == "LinkedIn"
    [upcoming] = context["upcoming_interviews"]
    assert upcoming["protected"] is True
    assert upcoming["secure_url"] == protected["secure_url"]
    assert upcoming["organizer"]["email"] == RECRUITER
    assert upcoming["panel"][0]["name"] == "Eve Engineer"
    assert context["custom_fields"][STATUS_KEY] == "Pending"


async def test_providers_and_location(
    org: Org, settings: EnricherSettings, publisher: Publisher, start_worker: Any
) -> None:
    cases = {
        "zoom": ("https://acme.zoom.us/j/1", None),
        "google_meet": ("https://meet.google.com/abc-defg-hij", None),
        "microsoft_teams": ("https://teams.microsoft.com/l/meetup-join/19%3ameeting", None),
        "webex": ("https://acme.webex.com/meet/jane", None),
        "location": (None, "Room 4, or join https://meet.google.com/xyz-abcd-efg."),
        "unknown": ("https://video.example.invalid/j/1", None),
    }
    interviews = {}
    for name, (video, location) in cases.items():
        candidate_id, application_id = org.candidate()
        interview = org.interview(application_id, video=video, location=location)
        interviews[name] = (interview["id"], candidate_id)
    running = await start_worker()

    for interview_id, candidate_id in interviews.values():
        await send(publisher, org.interview_event(interview_id, candidate_id))
    await running.wait_handled(len(cases))

    by_interview = {m["interview_id"]: m for m in await meetings(settings)}
    for name in ("zoom", "google_meet", "microsoft_teams", "webex"):
        assert by_interview[interviews[name][0]]["provider"] == name
    location = by_interview[interviews["location"][0]]
    assert location["original_url"] == "https://meet.google.com/xyz-abcd-efg"
    unknown_id, unknown_candidate = interviews["unknown"]
    assert unknown_id not in by_interview
    [unsupported] = await alerts(settings, "unsupported_meeting_provider")
    assert unsupported["interview_id"] == unknown_id
    assert field_value(org.fake, unknown_candidate, LINK_KEY) is None
    assert patches(org.fake, unknown_candidate) == 0


async def test_unprotected_interview_has_no_effects(
    org: Org, settings: EnricherSettings, publisher: Publisher, start_worker: Any
) -> None:
    candidate_id, application_id = org.candidate()
    interview = org.interview(application_id, organizer=org.engineer)
    running = await start_worker()

    await send(publisher, org.interview_event(interview["id"], candidate_id))
    await running.wait_handled(1)

    assert await meetings(settings) == []
    assert await alerts(settings, "protection_enabled") == []
    assert patches(org.fake, candidate_id) == 0
    context = (await contexts(settings, candidate_id))[-1]
    assert context["upcoming_interviews"][0]["protected"] is False


async def test_same_event_twice_one_write(
    org: Org, settings: EnricherSettings, publisher: Publisher, start_worker: Any
) -> None:
    candidate_id, application_id = org.candidate()
    interview = org.interview(application_id)
    event = org.interview_event(interview["id"], candidate_id)
    running = await start_worker()

    await send(publisher, event)
    await send(publisher, event)
    await running.wait_handled(2)

    assert patches(org.fake, candidate_id) == 1  # the link and the status in one PATCH
    assert len(await meetings(settings)) == 1
    assert len(await alerts(settings, "protection_enabled")) == 1


async def test_new_time_gives_new_link(
    org: Org, settings: EnricherSettings, publisher: Publisher, start_worker: Any
) -> None:
    candidate_id, application_id = org.candidate()
    interview = org.interview(application_id)
    running = await start_worker()
    await send(publisher, org.interview_event(interview["id"], candidate_id))
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    org.fake.state.update(
        "interviews",
        interview["id"],
        {"starts_at": isoformat(later), "ends_at": isoformat(later + timedelta(hours=1))},
    )

    await send(publisher, org.interview_event(interview["id"], candidate_id))
    await running.wait_handled(2)

    first, second = await meetings(settings)
    assert first["secure_url"] != second["secure_url"]
    assert field_value(org.fake, candidate_id, LINK_KEY) == second["secure_url"]
    first_alert, second_alert = await alerts(settings, "protection_enabled")
    assert first_alert["id"] != second_alert["id"]


@pytest.mark.parametrize("crash_point", ["after_greenhouse_write", "after_publish"])
async def test_crash_before_commit_one_write_one_note(
    crash_point: str,
    org: Org,
    settings: EnricherSettings,
    publisher: Publisher,
    start_worker: Any,
) -> None:
    candidate_id, application_id = org.candidate()
    interview = org.interview(application_id)
    first = new_worker(settings)
    if crash_point == "after_greenhouse_write":
        set_protection = first.fields.set_protection

        async def write_then_crash(*args: Any, **kwargs: Any) -> bool:
            await set_protection(*args, **kwargs)
            raise Crash

        first.fields.set_protection = write_then_crash  # type: ignore[method-assign]
    else:
        handle = first.enricher.handle

        async def handle_then_crash(*args: Any) -> None:
            await handle(*args)
            raise Crash

        first.enricher.handle = handle_then_crash  # type: ignore[method-assign]
    await first.start()

    await send(publisher, org.interview_event(interview["id"], candidate_id))
    with pytest.raises(Crash):
        await asyncio.wait_for(first.run(), timeout=30)
    # One PATCH carries both the secure link and the Pending status.
    assert patches(org.fake, candidate_id) == 1

    running = await start_worker()
    await running.wait_handled(1)

    assert patches(org.fake, candidate_id) == 1
    assert len([m for m in await meetings(settings) if m["type"] == "interview.protected"]) == 1
    alert_ids = {alert["id"] for alert in await alerts(settings, "protection_enabled")}
    assert len(alert_ids) == 1  # the notifier writes one note per alert id
    assert field_value(org.fake, candidate_id, STATUS_KEY) == "Pending"


async def test_interview_deleted_unprotects(
    org: Org, settings: EnricherSettings, publisher: Publisher, start_worker: Any
) -> None:
    candidate_id, application_id = org.candidate()
    interview = org.interview(application_id)
    running = await start_worker()
    await send(publisher, org.interview_event(interview["id"], candidate_id))
    await running.wait_handled(1)
    org.fake.state.delete("interviews", interview["id"])

    deleted = webhook_event(
        "interview.deleted", "interview", {"interview": {"id": interview["id"]}}, None
    )
    await send(publisher, deleted, key=f"interview:{interview['id']}")
    await running.wait_handled(2)

    protected, unprotected = await meetings(settings)
    assert unprotected["type"] == "interview.unprotected"
    assert unprotected["reason"] == "interview_deleted"
    assert unprotected["candidate_id"] == candidate_id
    assert unprotected["external_event_id"] == protected["external_event_id"]
    assert (await contexts(settings, candidate_id))[-1]["upcoming_interviews"] == []


async def test_protected_user_removed_unprotects(
    org: Org, settings: EnricherSettings, publisher: Publisher, start_worker: Any
) -> None:
    candidate_id, application_id = org.candidate()
    interview = org.interview(application_id)
    running = await start_worker()
    await send(publisher, org.interview_event(interview["id"], candidate_id))
    await running.wait_handled(1)

    await publisher.publish(PROTECTED_USERS, RECRUITER, None)
    await wait_until(lambda: RECRUITER not in running.worker.protected_users, message="removal")
    await send(publisher, org.interview_event(interview["id"], candidate_id))
    await running.wait_handled(2)

    last = (await meetings(settings))[-1]
    assert last["type"] == "interview.unprotected"
    assert last["reason"] == "no_protected_participant"


# Custom fields


async def test_two_replicas_create_fields_once(
    org: Org, settings: EnricherSettings, publisher: Publisher
) -> None:
    first, second = new_worker(settings), new_worker(settings)

    await asyncio.gather(first.start(), second.start())
    for worker in (first, second):
        worker.stop()
        await worker.run()

    with org.fake.state.lock:
        names = [f["name"] for f in org.fake.state.records["custom_fields"].values()]
    assert sorted(names) == ["Identity Verification Status", "Secure Interview Link"]


# Candidate lifecycle


async def test_merge_moves_context_and_protection(
    org: Org, settings: EnricherSettings, publisher: Publisher, start_worker: Any
) -> None:
    old_id, application_id = org.candidate()
    new_id, own_application_id = org.candidate()
    interview = org.interview(application_id)
    running = await start_worker()
    await send(publisher, org.interview_event(interview["id"], old_id))
    await running.wait_handled(1)
    org.fake.state.update("applications", application_id, {"candidate_id": new_id})
    org.fake.state.delete("candidates", old_id)

    merged = webhook_event(
        "candidate.merged",
        "candidate",
        {"person": {"id": old_id, "new_candidate_id": new_id}},
        old_id,
    )
    await send(publisher, merged)
    await running.wait_handled(2)

    assert (await contexts(settings, old_id))[-1] is None
    survivor = (await contexts(settings, new_id))[-1]
    assert [a["id"] for a in survivor["applications"]] == [application_id, own_application_id]
    assert survivor["upcoming_interviews"][0]["protected"] is True
    moved = (await meetings(settings))[-1]
    assert moved["type"] == "interview.protected"
    assert moved["candidate_id"] == new_id
    assert field_value(org.fake, new_id, LINK_KEY) == moved["secure_url"]


async def test_delete_tombstones_and_unprotects(
    org: Org, settings: EnricherSettings, publisher: Publisher, start_worker: Any
) -> None:
    candidate_id, application_id = org.candidate()
    interview = org.interview(application_id)
    running = await start_worker()
    await send(publisher, org.interview_event(interview["id"], candidate_id))
    await running.wait_handled(1)
    org.fake.state.delete("candidates", candidate_id)

    person = {"id": candidate_id, "deleted_application_ids": [application_id]}
    await send(
        publisher, webhook_event("candidate.deleted", "candidate", {"person": person}, candidate_id)
    )
    await running.wait_handled(2)

    assert (await contexts(settings, candidate_id))[-1] is None
    last = (await meetings(settings))[-1]
    assert last["type"] == "interview.unprotected"
    assert last["reason"] == "candidate_deleted"


async def test_anonymize_drops_personal_fields(
    org: Org, settings: EnricherSettings, publisher: Publisher, start_worker: Any
) -> None:
    candidate_id, application_id = org.candidate()
    running = await start_worker()

    data = {"candidate_id": candidate_id, "anonymized_fields": ["full_name", "email_addresses"]}
    await send(publisher, webhook_event("candidate.anonymized", "candidate", data, candidate_id))
    await running.wait_handled(1)

    context = (await contexts(settings, candidate_id))[-1]
    assert context["anonymized"] is True
    assert context["identity"] is None
    assert context["emails"] == []
    assert context["phones"] == []
    assert b"Testy" not in orjson.dumps(context)
    assert [a["id"] for a in context["applications"]] == [application_id]


# Failures


async def test_poison_record_dead_lettered_next_processed(
    org: Org, settings: EnricherSettings, publisher: Publisher, start_worker: Any
) -> None:
    candidate_id, _ = org.candidate()
    running = await start_worker()

    await publisher.publish(CANDIDATE_EVENTS, str(candidate_id), b"{not json")
    updated = webhook_event(
        "candidate.updated", "candidate", {"candidate": {"id": candidate_id}}, candidate_id
    )
    await send(publisher, updated)
    await running.wait_handled(1)

    async with ClusterReader(settings, timeout_seconds=10) as reader:
        [dead] = await reader.read_topic(topic_name(DEAD_LETTER, settings.kafka_topic_prefix))
    assert dead.value == b"{not json"
    assert "not valid JSON" in (header_text(dead, "dlq-reason") or "")
    assert header_text(dead, "dlq-source-topic") == topic_name(
        CANDIDATE_EVENTS, settings.kafka_topic_prefix
    )
    assert header_text(dead, "dlq-source-offset") == "0"
    assert header_text(dead, "dlq-attempts") == "1"
    assert len(await contexts(settings, candidate_id)) == 1


async def test_reference_records_cached(
    org: Org, settings: EnricherSettings, publisher: Publisher, start_worker: Any
) -> None:
    candidate_id, application_id = org.candidate()
    org.interview(application_id)
    running = await start_worker()
    updated = webhook_event(
        "candidate.updated", "candidate", {"candidate": {"id": candidate_id}}, candidate_id
    )

    await send(publisher, updated)
    await send(publisher, updated)
    await running.wait_handled(2)

    with org.fake.state.lock:
        counts = dict(org.fake.state.request_counts)
    assert counts[("GET", "/v3/candidates")] == 2
    assert counts[("GET", "/v3/interviewers")] == 2
    for path in ("/v3/jobs", "/v3/sources", "/v3/users"):
        assert counts[("GET", path)] == 1, path
    assert len(await contexts(settings, candidate_id)) == 2


async def test_rejected_field_write_dead_lettered(
    org: Org, settings: EnricherSettings, publisher: Publisher, start_worker: Any
) -> None:
    candidate_id, application_id = org.candidate()
    interview = org.interview(application_id)
    other_id, _ = org.candidate()
    running = await start_worker()
    # Two, because a rejected write is retried once after looking the field up again.
    with org.fake.state.lock:
        org.fake.state.faults.add(
            Fault(path_prefix=f"/v3/candidates/{candidate_id}", method="PATCH", status=422, count=2)
        )

    await send(publisher, org.interview_event(interview["id"], candidate_id), key="same")
    updated = webhook_event(
        "candidate.updated", "candidate", {"candidate": {"id": other_id}}, other_id
    )
    await send(publisher, updated, key="same")
    await running.wait_handled(1)

    async with ClusterReader(settings, timeout_seconds=10) as reader:
        [dead] = await reader.read_topic(topic_name(DEAD_LETTER, settings.kafka_topic_prefix))
    assert header_text(dead, "dlq-error") == "GreenhouseValidationError"
    assert await meetings(settings) == []
    assert len(await contexts(settings, other_id)) == 1
