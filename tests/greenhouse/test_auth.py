"""Token handling against the fake: single-flight minting, re-mint on 401, expiry, secrecy."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from harvest_helpers import ClientFactory
from structlog.testing import capture_logs

from devstack.fake_greenhouse import FakeGreenhouse
from devstack.fake_greenhouse.faults import Fault
from shared.errors import GreenhouseAuthError, GreenhouseForbiddenError
from shared.greenhouse import HarvestClient
from shared.greenhouse.auth import DEFAULT_LIFETIME_SECONDS, token_from_response


async def test_concurrent_requests_mint_one_token(
    fake: FakeGreenhouse, client: HarvestClient
) -> None:
    fake.state.insert("sources", {"name": "LinkedIn"})

    results = await asyncio.gather(*(client.list_all("sources") for _ in range(20)))

    assert all(len(result) == 1 for result in results)
    assert fake.state.token_requests == 1
    assert fake.state.request_counts[("POST", "/token")] == 1


async def test_revoked_token_is_reminted_once(fake: FakeGreenhouse, client: HarvestClient) -> None:
    await client.list_all("sources")
    fake.state.revoke_all_tokens()

    await asyncio.gather(*(client.list_all("sources") for _ in range(5)))

    assert fake.state.token_requests == 2
    assert fake.state.status_counts[401] >= 1
    assert client.tokens.mint_count == 2


async def test_new_token_revoking_old_one_is_survived(
    fake: FakeGreenhouse, make_client: ClientFactory
) -> None:
    fake.state.config.revoke_on_new_token = True
    async with make_client() as first, make_client() as second:
        await first.list_all("sources")
        await second.list_all("sources")  # revokes the first client's token

        assert await first.list_all("sources") == []

    assert fake.state.token_requests == 3


async def test_second_401_raises_without_looping(
    fake: FakeGreenhouse, client: HarvestClient
) -> None:
    fake.state.faults.add(Fault(path_prefix="/v3/sources", status=401, count=2))

    with pytest.raises(GreenhouseAuthError) as caught:
        await client.list_all("sources")

    assert caught.value.status == 401
    assert fake.state.request_counts[("GET", "/v3/sources")] == 2
    assert fake.state.token_requests == 2


async def test_token_refreshed_before_expiry(fake: FakeGreenhouse, client: HarvestClient) -> None:
    fake.state.config.token_ttl_seconds = 1.0
    first = await client.token()
    # Wait until the token's own refresh deadline has passed.
    await asyncio.sleep(max(0.0, first.refresh_after - time.monotonic()) + 0.01)

    await client.list_all("sources")

    assert fake.state.token_requests == 2
    assert fake.state.status_counts[401] == 0


async def test_wrong_secret_raises_auth_error_at_once(
    fake: FakeGreenhouse, make_client: ClientFactory
) -> None:
    async with make_client(greenhouse_client_secret="not-the-secret") as harvest:
        with pytest.raises(GreenhouseAuthError) as caught:
            await harvest.list_all("sources")

    assert caught.value.error_code == "invalid_client"
    assert "invalid client id or secret" in str(caught.value)
    assert fake.state.request_counts[("POST", "/token")] == 1


async def test_acting_user_is_sent_as_sub(fake: FakeGreenhouse, make_client: ClientFactory) -> None:
    admin = fake.state.insert(
        "users", {"first_name": "A", "last_name": "Admin", "site_admin": True}
    )
    async with make_client(greenhouse_acting_user_id=admin["id"]) as harvest:
        introspection = await harvest.introspect()

    assert introspection.sub == str(admin["id"])
    assert introspection.user_role == "site_admin"


async def test_non_admin_acting_user_gets_forbidden(
    fake: FakeGreenhouse, make_client: ClientFactory
) -> None:
    user = fake.state.insert("users", {"first_name": "B", "last_name": "Basic"})
    async with make_client(greenhouse_acting_user_id=user["id"]) as harvest:
        with pytest.raises(GreenhouseForbiddenError) as caught:
            await harvest.list_all("jobs")

    assert "Site Admin" in str(caught.value)


async def test_secrets_stay_out_of_reprs_logs_and_errors(
    fake: FakeGreenhouse, make_client: ClientFactory
) -> None:
    fake.state.faults.add(Fault(path_prefix="/v3/sources", status=500, count=1))
    with capture_logs() as logs:
        async with make_client() as harvest:
            token = await harvest.token()
            await harvest.list_all("sources")
            fake.state.revoke_all_tokens()
            await harvest.list_all("sources")
            texts = [repr(harvest), repr(token), repr(harvest.tokens), repr(fake.settings())]
        async with make_client(greenhouse_client_secret="wrong-secret-value") as harvest:
            with pytest.raises(GreenhouseAuthError) as caught:
                await harvest.list_all("sources")
            texts.append(str(caught.value))
    texts += [str(entry) for entry in logs]

    for text in texts:
        assert token.access_token not in text
        assert fake.client_secret not in text
        assert "wrong-secret-value" not in text


def test_expiry_read_from_expires_at() -> None:
    now = datetime(2026, 1, 8, 10, 0, tzinfo=UTC)
    token = token_from_response(
        {"access_token": "x", "token_type": "bearer", "expires_at": "2026-01-08T10:30:00+00:00"},
        now=100.0,
        wall_now=now,
    )

    assert token.expires_at == now + timedelta(minutes=30)
    assert token.refresh_after == pytest.approx(100.0 + 1800 - 60)


def test_expiry_read_from_expires_in() -> None:
    now = datetime(2026, 1, 8, 10, 0, tzinfo=UTC)
    token = token_from_response({"access_token": "x", "expires_in": 600}, now=0.0, wall_now=now)

    assert token.expires_at == now + timedelta(seconds=600)


def test_expiry_defaults_to_one_hour() -> None:
    now = datetime(2026, 1, 8, 10, 0, tzinfo=UTC)
    token = token_from_response({"access_token": "x"}, now=0.0, wall_now=now)

    assert token.expires_at == now + timedelta(seconds=DEFAULT_LIFETIME_SECONDS)
    assert token.scopes is None


def test_token_response_scope_is_parsed() -> None:
    token = token_from_response(
        {"access_token": "x", "scope": "harvest:jobs:list harvest:users:list"},
        now=0.0,
        wall_now=datetime.now(UTC),
    )

    assert token.scopes == frozenset({"harvest:jobs:list", "harvest:users:list"})
