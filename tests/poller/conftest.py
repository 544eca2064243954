"""Fixtures for the poller: a fake Greenhouse on 127.0.0.1, poller settings and a test rig."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack.fake_greenhouse import FakeGreenhouse
from services.poller.polling import JOBS, Poller
from services.poller.settings import PollerSettings
from services.poller.state import load_state
from shared.events import Envelope
from shared.greenhouse import HarvestClient
from shared.kafka import Publisher, ensure_topics, read_to_end
from shared.topics import CANDIDATE_EVENTS, ORG_EVENTS, POLLER_LEADER, POLLER_STATE


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ago(**delta: float) -> str:
    return iso(datetime.now(UTC) - timedelta(**delta))


def ahead(**delta: float) -> str:
    return iso(datetime.now(UTC) + timedelta(**delta))


@pytest.fixture
def fake() -> Iterator[FakeGreenhouse]:
    with FakeGreenhouse() as server:
        # High enough that no test waits for a new rate window, unless it sets up 429s itself.
        server.state.config.rate_limit = 100_000
        yield server


def fake_options(fake: FakeGreenhouse) -> dict[str, Any]:
    """The settings that point the poller at the fake."""
    return {
        "greenhouse_client_id": fake.client_id,
        "greenhouse_client_secret": fake.client_secret,
        "greenhouse_token_url": fake.token_url,
        "greenhouse_introspect_url": fake.introspect_url,
        "greenhouse_api_url": fake.api_url,
    }


@pytest.fixture
def poller_settings(make_settings: Callable[..., Any], fake: FakeGreenhouse) -> PollerSettings:
    settings: PollerSettings = make_settings(PollerSettings, **fake_options(fake))
    return settings


class Rig:
    """A Poller on the fake and the broker, run job by job, with the events it published."""

    def __init__(
        self,
        settings: PollerSettings,
        fake: FakeGreenhouse,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.fake = fake
        self.transport = transport
        self.publisher = Publisher(settings)
        self.harvest = HarvestClient(settings, transport=transport, backoff_seconds=0.01)
        self.poller: Poller

    async def start(self) -> Rig:
        await ensure_topics(
            self.settings, [CANDIDATE_EVENTS, ORG_EVENTS, POLLER_STATE, POLLER_LEADER]
        )
        await self.publisher.start()
        self.poller = Poller(
            self.settings, self.harvest, self.publisher, await load_state(self.settings)
        )
        return self

    async def close(self) -> None:
        await self.harvest.aclose()
        await self.publisher.stop()

    async def restart(self) -> None:
        """Drop every client and all memory, then start again from the state topic."""
        await self.close()
        self.publisher = Publisher(self.settings)
        self.harvest = HarvestClient(self.settings, transport=self.transport, backoff_seconds=0.01)
        await self.start()

    async def run(self, *jobs: str) -> int:
        published = 0
        for job in jobs or JOBS:
            published += await self.poller.run(job)
        return published

    async def events(self) -> list[Envelope]:
        found = []
        for topic in (CANDIDATE_EVENTS, ORG_EVENTS):
            for _key, value, _partition, _offset in await read_to_end(self.settings, topic):
                found.append(Envelope.from_json(value))
        return found

    async def events_of(self, event_type: str) -> list[Envelope]:
        return [event for event in await self.events() if event.type == event_type]

    def harvest_requests(self) -> int:
        """Harvest requests the fake received (token requests excluded)."""
        with self.fake.state.lock:
            counts = self.fake.state.request_counts
            return sum(
                count for (_method, path), count in counts.items() if path.startswith("/v3/")
            )

    def reset_request_counts(self) -> None:
        with self.fake.state.lock:
            self.fake.state.request_counts.clear()


@pytest.fixture
async def rig(poller_settings: PollerSettings, fake: FakeGreenhouse) -> AsyncIterator[Rig]:
    started = await Rig(poller_settings, fake).start()
    yield started
    await started.close()


class People:
    """A small organisation in the fake: an organizer, two interviewers, one candidate."""

    def __init__(self, fake: FakeGreenhouse, *, updated_at: str | None = None) -> None:
        state = fake.state
        stamp = {"updated_at": updated_at, "created_at": updated_at} if updated_at else {}
        self.organizer = state.insert(
            "users",
            {
                "first_name": "Olga",
                "last_name": "Organizer",
                "primary_email": "olga@example.invalid",
                **stamp,
            },
        )
        self.alice = state.insert(
            "users",
            {
                "first_name": "Alice",
                "last_name": "A",
                "primary_email": "alice@example.invalid",
                **stamp,
            },
        )
        self.bob = state.insert(
            "users",
            {
                "first_name": "Bob",
                "last_name": "B",
                "primary_email": "bob@example.invalid",
                **stamp,
            },
        )
        self.candidate = state.insert(
            "candidates", {"first_name": "Cand", "last_name": "Idate", **stamp}
        )
        self.application = state.insert(
            "applications", {"candidate_id": self.candidate["id"], **stamp}
        )

    def schedule(self, fake: FakeGreenhouse, *, starts_at: str, **fields: Any) -> dict[str, Any]:
        """Create a scheduled interview with Alice on its panel."""
        interview = fake.state.insert(
            "interviews",
            {
                "application_id": self.application["id"],
                "organizer_id": self.organizer["id"],
                "starts_at": starts_at,
                "video_conferencing_url": "https://zoom.us/j/100",
                **fields,
            },
        )
        fake.state.set_panel(interview["id"], [{"user_id": self.alice["id"]}])
        return interview
