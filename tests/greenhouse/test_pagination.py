"""Listing against the fake: Link-following with cursor-only requests, filters and id batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from harvest_helpers import RecordingTransport

from devstack.fake_greenhouse import FakeGreenhouse
from shared.errors import GreenhouseError
from shared.greenhouse import HarvestClient


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_three_pages_followed_with_cursor_only(
    fake: FakeGreenhouse, client: HarvestClient, transport: RecordingTransport
) -> None:
    ids = [fake.state.insert("sources", {"name": f"Source {n}"})["id"] for n in range(5)]

    records = [record async for record in client.iterate("sources", per_page=2)]

    assert [record["id"] for record in records] == sorted(ids, reverse=True)
    pages = [url for url in transport.urls if url.path == "/v3/sources"]
    assert len(pages) == 3
    assert dict(pages[0].params) == {"per_page": "2"}
    for url in pages[1:]:
        assert list(url.params.keys()) == ["cursor"]


async def test_filters_kept_across_pages(fake: FakeGreenhouse, client: HarvestClient) -> None:
    now = datetime.now(UTC)
    old = _iso(now - timedelta(days=10))
    recent = _iso(now - timedelta(hours=1))
    for n in range(4):
        fake.state.insert("jobs", {"name": f"Recent {n}", "updated_at": recent})
    fake.state.insert("jobs", {"name": "Old", "updated_at": old})

    window = (now - timedelta(days=1), now)
    records = await client.list_all("jobs", updated_at=window, per_page=3, status="open")

    assert sorted(record["name"] for record in records) == [f"Recent {n}" for n in range(4)]


async def test_updated_at_rendered_as_greenhouse_spells_it(
    client: HarvestClient, transport: RecordingTransport
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = datetime(2026, 1, 2, tzinfo=UTC)

    await client.list_all("interviews", updated_at=(start, end), job_ids=[3, 1])

    params = transport.urls[-1].params
    assert params["updated_at"] == "gte|2026-01-01T00:00:00.000Z|lte|2026-01-02T00:00:00.000Z"
    assert params["job_ids"] == "3,1"
    assert params["per_page"] == "500"


async def test_get_by_ids_batches_fifty(
    fake: FakeGreenhouse, client: HarvestClient, transport: RecordingTransport
) -> None:
    ids = [
        fake.state.insert("users", {"first_name": "U", "last_name": str(n)})["id"]
        for n in range(120)
    ]

    records = await client.get_by_ids("users", [*ids, ids[0]])

    assert sorted(record["id"] for record in records) == ids
    batches = [url for url in transport.urls if url.path == "/v3/users"]
    assert [len(url.params["ids"].split(",")) for url in batches] == [50, 50, 20]


async def test_get_by_parent_ids(fake: FakeGreenhouse, client: HarvestClient) -> None:
    candidate = fake.state.insert("candidates", {"first_name": "C", "last_name": "One"})
    other = fake.state.insert("candidates", {"first_name": "C", "last_name": "Two"})
    mine = fake.state.insert("applications", {"candidate_id": candidate["id"]})
    fake.state.insert("applications", {"candidate_id": other["id"]})

    records = await client.get_by_ids("applications", [candidate["id"]], id_param="candidate_ids")

    assert [record["id"] for record in records] == [mine["id"]]


async def test_more_than_fifty_ids_rejected_before_sending(
    client: HarvestClient, transport: RecordingTransport
) -> None:
    with pytest.raises(ValueError, match="at most 50"):
        await client.list_all("users", ids=list(range(51)))

    assert transport.urls == []


async def test_link_to_other_origin_refused(fake: FakeGreenhouse) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "t", "token_type": "Bearer"})
        link = '<https://elsewhere.example/v3/jobs?cursor=abc>; rel="next"'
        return httpx.Response(200, json=[{"id": 1}], headers={"Link": link})

    async with HarvestClient(fake.settings(), transport=httpx.MockTransport(handler)) as harvest:
        with pytest.raises(GreenhouseError, match="another origin"):
            await harvest.list_all("jobs")
