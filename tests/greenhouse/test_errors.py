"""Error handling: what is retried (5xx, 429, transport errors) and what raises at once."""

from __future__ import annotations

import socket

import httpx
import pytest
from harvest_helpers import ClientFactory

from devstack.fake_greenhouse import FakeGreenhouse
from devstack.fake_greenhouse.faults import Fault
from shared.errors import (
    GreenhouseForbiddenError,
    GreenhouseNotFoundError,
    GreenhouseUnavailableError,
    GreenhouseValidationError,
)
from shared.greenhouse import HarvestClient
from shared.greenhouse.responses import error_messages, required_scope


async def test_5xx_retried_until_success(fake: FakeGreenhouse, client: HarvestClient) -> None:
    fake.state.faults.add(Fault(path_prefix="/v3/jobs", status=503, count=2))

    assert await client.list_all("jobs") == []

    assert fake.state.request_counts[("GET", "/v3/jobs")] == 3


async def test_5xx_past_the_attempts_raises(
    fake: FakeGreenhouse, make_client: ClientFactory
) -> None:
    fake.state.faults.add(Fault(path_prefix="/v3/jobs", status=500, count=10))

    async with make_client(greenhouse_max_attempts=3) as harvest:
        with pytest.raises(GreenhouseUnavailableError) as caught:
            await harvest.list_all("jobs")

    assert caught.value.status == 500
    assert fake.state.request_counts[("GET", "/v3/jobs")] == 3


async def test_422_raised_at_once(fake: FakeGreenhouse, client: HarvestClient) -> None:
    with pytest.raises(GreenhouseValidationError) as caught:
        await client.create_note({"candidate_id": 1, "body": "hello"})

    assert caught.value.status == 422
    assert caught.value.errors == ["candidate_id: candidate 1 does not exist"]
    assert fake.state.request_counts[("POST", "/v3/notes")] == 1


async def test_403_names_the_missing_scope(fake: FakeGreenhouse, client: HarvestClient) -> None:
    fake.state.clients[fake.client_id].scopes.discard("harvest:notes:list")

    with pytest.raises(GreenhouseForbiddenError) as caught:
        await client.list_all("notes")

    assert "harvest:notes:list" in str(caught.value)
    assert fake.state.request_counts[("GET", "/v3/notes")] == 1


async def test_404_raised_at_once(fake: FakeGreenhouse, client: HarvestClient) -> None:
    with pytest.raises(GreenhouseNotFoundError):
        await client.update_candidate(123, {"first_name": "X"})

    assert fake.state.request_counts[("PATCH", "/v3/candidates/123")] == 1


async def test_timeout_retried(fake: FakeGreenhouse, make_client: ClientFactory) -> None:
    fake.state.faults.add(Fault(path_prefix="/v3/jobs", delay_seconds=1.0, count=1))

    async with make_client(greenhouse_timeout_seconds=0.2) as harvest:
        assert await harvest.list_all("jobs") == []

    assert fake.state.request_counts[("GET", "/v3/jobs")] == 2


async def test_unreachable_api_raises_unavailable(
    fake: FakeGreenhouse, make_client: ClientFactory
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    async with make_client(
        greenhouse_api_url=f"http://127.0.0.1:{closed_port}/v3", greenhouse_max_attempts=2
    ) as harvest:
        with pytest.raises(GreenhouseUnavailableError) as caught:
            await harvest.list_all("jobs")

    assert isinstance(caught.value.__cause__, httpx.TransportError)


def test_error_messages_accept_strings_and_objects() -> None:
    assert error_messages(
        {"errors": ["When passing a cursor, do not include other query params."]}
    ) == ["When passing a cursor, do not include other query params."]
    assert error_messages(
        {
            "message": "Validation error",
            "errors": [{"message": "Must be one of: a, b", "field": "type"}],
        }
    ) == ["type: Must be one of: a, b"]
    assert error_messages({"message": "Unauthorized"}) == ["Unauthorized"]
    assert error_messages(["not", "an", "object"]) == []


def test_required_scope_from_method_and_path() -> None:
    assert required_scope("GET", "/v3/job_interviews") == "harvest:job_interviews:list"
    assert required_scope("PATCH", "/v3/candidates/12") == "harvest:candidates:update"
    assert required_scope("POST", "/v3/notes") == "harvest:notes:create"


async def test_non_json_success_is_retriable_error() -> None:
    from shared.settings import GreenhouseSettings

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(
                200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 3600}
            )
        return httpx.Response(200, text="<html>gateway page</html>")

    settings = GreenhouseSettings(
        greenhouse_client_id="id",
        greenhouse_client_secret="secret",
        greenhouse_token_url="http://harvest.test/token",
        greenhouse_api_url="http://harvest.test/v3",
    )
    async with HarvestClient(settings, transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(GreenhouseUnavailableError, match="JSON") as listing:
            await client.list_all("candidates")
        with pytest.raises(GreenhouseUnavailableError, match="JSON"):
            await client.create_note({"candidate_id": 1, "body": "x"})
    assert listing.value.retriable
