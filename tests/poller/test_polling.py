"""Poll jobs against the fake Greenhouse and the embedded broker."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest

from devstack.fake_greenhouse import FakeGreenhouse
from devstack.fake_greenhouse.faults import Fault
from services.poller.settings import RECORD_RESOURCES, PollerSettings
from shared.errors import GreenhouseRateLimitedError
from shared.events import Envelope

from .conftest import People, Rig, ago, ahead

pytestmark = pytest.mark.integration


def interview_events(events: list[Envelope], interview_id: int) -> list[Envelope]:
    return [
        event
        for event in events
        if event.resource == "interview" and event.data["id"] == interview_id
    ]


async def test_schedule_move_panel_each_published_once(rig: Rig, fake: FakeGreenhouse) -> None:
    people = People(fake)
    await rig.run()
    first_start = ahead(days=1)
    interview = people.schedule(fake, starts_at=first_start)
    await rig.run("interviews")
    await rig.run("interviews", "sweep")

    fake.state.update("interviews", interview["id"], {"starts_at": ahead(days=2)})
    await rig.run("interviews")
    await rig.run("interviews", "sweep")

    # A panel row added without touching the interview, as Greenhouse may do.
    fake.state.insert(
        "interviewers",
        {
            "interview_id": interview["id"],
            "user_id": people.bob["id"],
            "email": "bob@example.invalid",
        },
    )
    await rig.run("interviews")
    await rig.run("interviews", "sweep")

    published = interview_events(await rig.events(), interview["id"])
    assert [event.type for event in published] == ["interview.updated"] * 3
    assert len({event.id for event in published}) == 3
    scheduled, moved, staffed = (event.data for event in published)
    assert scheduled["starts_at"] == first_start
    assert moved["starts_at"] == interview["starts_at"] != first_start
    assert [row["user_id"] for row in moved["interviewers"]] == [people.alice["id"]]
    assert sorted(row["user_id"] for row in staffed["interviewers"]) == sorted(
        [people.alice["id"], people.bob["id"]]
    )
    assert staffed["organizer"] == {"id": people.organizer["id"], "email": "olga@example.invalid"}
    assert staffed["candidate_id"] == people.candidate["id"]


async def test_interview_event_envelope(rig: Rig, fake: FakeGreenhouse) -> None:
    people = People(fake)
    interview = people.schedule(fake, starts_at=ahead(hours=3))

    await rig.run("interviews")

    [event] = interview_events(await rig.events(), interview["id"])
    assert event.source == "poll"
    assert event.action is None
    assert event.resource == "interview"
    assert event.candidate_id == people.candidate["id"]
    assert event.application_id == people.application["id"]
    assert event.occurred_at == fake.state.get("interviews", interview["id"])["updated_at"]
    assert event.data["video_conferencing_url"] == "https://zoom.us/j/100"


async def test_polled_records_routed(rig: Rig, fake: FakeGreenhouse) -> None:
    People(fake)
    job = fake.state.insert("jobs", {"name": "Engineer"})

    await rig.run()

    events = await rig.events()
    types = Counter(event.type for event in events)
    assert types["user.updated"] == 3
    assert types["candidate.updated"] == 1
    assert types["application.updated"] == 1
    assert types["job.updated"] == 1
    [job_event] = [event for event in events if event.type == "job.updated"]
    assert job_event.data["id"] == job["id"]
    assert all(event.source == "poll" for event in events)


async def test_more_than_one_page(rig: Rig, fake: FakeGreenhouse) -> None:
    ids = {fake.state.insert("sources", {"name": f"Source {n}"})["id"] for n in range(1_100)}

    published = await rig.run("sources")

    assert published == 1_100
    events = await rig.events_of("source.updated")
    assert {event.data["id"] for event in events} == ids
    assert len(events) == 1_100
    assert fake.state.request_counts[("GET", "/v3/sources")] == 3


class ChangeDuringPaging(httpx.AsyncHTTPTransport):
    """Changes two candidates in the fake just before the second page is requested."""

    def __init__(self, fake: FakeGreenhouse) -> None:
        super().__init__()
        self.fake = fake
        self.changed: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        paging = request.url.path == "/v3/candidates" and "cursor" in request.url.params
        if paging and not self.changed:
            ids = sorted(self.fake.state.records["candidates"])
            # The highest id was on the first page, the lowest is on the last one.
            for identifier in (ids[-1], ids[0]):
                self.fake.state.update("candidates", identifier, {"title": "Changed"})
                self.changed.append(identifier)
        return await super().handle_async_request(request)


async def test_changes_during_paging_not_missed(
    poller_settings: PollerSettings, fake: FakeGreenhouse
) -> None:
    for n in range(6):
        fake.state.insert("candidates", {"first_name": "C", "last_name": str(n)})
    transport = ChangeDuringPaging(fake)
    settings = poller_settings.model_copy(update={"poller_page_size": 2})
    rig = await Rig(settings, fake, transport).start()
    try:
        await rig.run("candidates")
        await rig.run("candidates")
        events = await rig.events_of("candidate.updated")
    finally:
        await rig.close()

    assert len(transport.changed) == 2
    published = Counter((event.data["id"], event.data["updated_at"]) for event in events)
    for identifier, record in fake.state.records["candidates"].items():
        assert published[(identifier, record["updated_at"])] == 1
    for identifier in transport.changed:
        assert any(
            event.data["id"] == identifier and event.data["title"] == "Changed" for event in events
        )


async def test_restart_resumes_from_marks(rig: Rig, fake: FakeGreenhouse) -> None:
    people = People(fake)
    people.schedule(fake, starts_at=ahead(days=1))
    job = fake.state.insert("jobs", {"name": "Engineer"})
    await rig.run()
    marks = dict(rig.poller.state.marks)
    before = {event.id for event in await rig.events()}

    await rig.restart()

    assert rig.poller.state.marks == marks
    assert await rig.run() == 0
    assert {event.id for event in await rig.events()} == before

    fake.state.update("jobs", job["id"], {"name": "Senior Engineer"})
    assert await rig.run() == 1
    [new] = [event for event in await rig.events() if event.id not in before]
    assert new.type == "job.updated"
    assert new.data["name"] == "Senior Engineer"


async def test_first_start_looks_back(rig: Rig, fake: FakeGreenhouse) -> None:
    fake.state.insert("jobs", {"name": "Recent", "updated_at": ago(hours=23)})
    fake.state.insert("jobs", {"name": "Old", "updated_at": ago(hours=25)})

    await rig.run("jobs")

    assert [event.data["name"] for event in await rig.events_of("job.updated")] == ["Recent"]


async def test_first_sweep_publishes_upcoming(rig: Rig, fake: FakeGreenhouse) -> None:
    people = People(fake, updated_at=ago(days=30))
    soon = people.schedule(fake, starts_at=ahead(hours=10))
    later = people.schedule(fake, starts_at=ahead(hours=100))
    for interview in (soon, later):
        fake.state.update("interviews", interview["id"], {"updated_at": ago(days=30)})

    await rig.run("sweep")

    published = [event.data["id"] for event in await rig.events_of("interview.updated")]
    assert published == [soon["id"]]


async def test_sweep_publishes_deletion(rig: Rig, fake: FakeGreenhouse) -> None:
    people = People(fake)
    interview = people.schedule(fake, starts_at=ahead(days=1))
    await rig.run("interviews")

    fake.state.delete("interviews", interview["id"])
    await rig.run("interviews", "sweep")
    await rig.run("sweep")

    [deleted] = await rig.events_of("interview.deleted")
    assert deleted.data == {"id": interview["id"], "candidate_id": people.candidate["id"]}
    assert deleted.candidate_id == people.candidate["id"]
    assert interview["id"] not in rig.poller.state.interviews


async def test_moved_beyond_lookahead_not_deleted(rig: Rig, fake: FakeGreenhouse) -> None:
    people = People(fake)
    interview = people.schedule(fake, starts_at=ahead(days=1))
    await rig.run("interviews")

    fake.state.update("interviews", interview["id"], {"starts_at": ahead(days=10)})
    await rig.run("sweep")

    assert await rig.events_of("interview.deleted") == []
    published = interview_events(await rig.events(), interview["id"])
    assert len(published) == 2
    assert (
        published[-1].data["starts_at"]
        == fake.state.get("interviews", interview["id"])["starts_at"]
    )


async def test_sweep_sees_removed_panel_member(rig: Rig, fake: FakeGreenhouse) -> None:
    people = People(fake)
    interview = people.schedule(fake, starts_at=ahead(days=1))
    fake.state.insert(
        "interviewers",
        {
            "interview_id": interview["id"],
            "user_id": people.bob["id"],
            "email": "bob@example.invalid",
        },
    )
    await rig.run("interviews")

    bob_row = next(
        row for row in fake.state.panel(interview["id"]) if row["user_id"] == people.bob["id"]
    )
    fake.state.delete("interviewers", bob_row["id"])
    await rig.run("interviews")
    await rig.run("sweep")

    published = interview_events(await rig.events(), interview["id"])
    assert len(published) == 2
    assert [row["user_id"] for row in published[-1].data["interviewers"]] == [people.alice["id"]]


async def test_429_slows_without_loss(rig: Rig, fake: FakeGreenhouse) -> None:
    people = People(fake)
    interview = people.schedule(fake, starts_at=ahead(days=1))
    fake.state.faults.add(Fault(path_prefix="/v3/interviews", status=429, retry_after=1, count=2))

    started = time.monotonic()
    await rig.run("interviews")
    elapsed = time.monotonic() - started

    assert fake.state.status_counts[429] == 2
    assert elapsed >= 2.0
    assert len(interview_events(await rig.events(), interview["id"])) == 1


async def test_429_past_retries_loses_nothing(
    poller_settings: PollerSettings, fake: FakeGreenhouse
) -> None:
    people = People(fake)
    interview = people.schedule(fake, starts_at=ahead(days=1))
    settings = poller_settings.model_copy(update={"greenhouse_max_attempts": 2})
    rig = await Rig(settings, fake).start()
    try:
        await rig.run("interviews")
        fake.state.update("interviews", interview["id"], {"location": "Room 2"})
        fake.state.faults.add(
            Fault(path_prefix="/v3/interviews", status=429, retry_after=0, count=2)
        )
        mark = rig.poller.state.mark("interviews")

        with pytest.raises(GreenhouseRateLimitedError):
            await rig.run("interviews")
        assert rig.poller.state.mark("interviews") == mark

        await rig.run("interviews")
        published = interview_events(await rig.events(), interview["id"])
    finally:
        await rig.close()

    assert [event.data["location"] for event in published] == [None, "Room 2"]


async def test_idle_cycle_cost_constant(rig: Rig, fake: FakeGreenhouse) -> None:
    long_ago = ago(days=30)
    with fake.state.lock:
        people = People(fake, updated_at=long_ago)
        for n in range(10_000):
            candidate = fake.state.insert(
                "candidates", {"first_name": "C", "last_name": str(n), "updated_at": long_ago}
            )
            fake.state.insert(
                "applications", {"candidate_id": candidate["id"], "updated_at": long_ago}
            )
        for n in range(20):
            interview = people.schedule(fake, starts_at=ahead(hours=n + 1))
            fake.state.update("interviews", interview["id"], {"updated_at": long_ago})
            for row in fake.state.panel(interview["id"]):
                row["updated_at"] = long_ago
    await rig.run()
    assert len(await rig.events_of("interview.updated")) == 20

    rig.reset_request_counts()
    published = await rig.run()

    assert published == 0
    counts: dict[str, Any] = dict(fake.state.request_counts)
    # One window per resource (8), interviews and interviewers (2), and the sweep: one page
    # of upcoming interviews and their panels, 50 interviews per request (2).
    assert rig.harvest_requests() == 12, counts
    assert set(rig.poller.state.marks) == {"interviews", "interviewers", *RECORD_RESOURCES}


class RemainingRecorder(httpx.AsyncHTTPTransport):
    """Keeps the ``X-RateLimit-Remaining`` of every Harvest response."""

    def __init__(self) -> None:
        super().__init__()
        self.remaining: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.url.path.startswith("/v3/"):
            self.remaining.append(int(response.headers["X-RateLimit-Remaining"]))
        return response


async def test_spends_only_its_share(poller_settings: PollerSettings, fake: FakeGreenhouse) -> None:
    for n in range(1_100):
        fake.state.insert("sources", {"name": f"Source {n}"})
    fake.state.config.rate_limit = 10
    fake.state.config.rate_window_seconds = 2.0
    transport = RemainingRecorder()
    settings = poller_settings.model_copy(update={"poller_page_size": 100})
    rig = await Rig(settings, fake, transport).start()
    try:
        assert await rig.run("sources") == 1_100
    finally:
        await rig.close()

    assert settings.greenhouse_rate_limit_share == 0.5
    assert len(transport.remaining) == 11
    assert min(transport.remaining) >= 5
    assert fake.state.status_counts[429] == 0
