"""Fixtures for the fake's own tests: one server per module, its state reset for each test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fake_helpers import Mint

from devstack.fake_greenhouse import ALL_SCOPES, FakeConfig, FakeGreenhouse


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGreenhouse]:
    with FakeGreenhouse() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeGreenhouse) -> FakeGreenhouse:
    state = server.state
    with state.lock:
        state.reset()
        state.config = FakeConfig()
        state.clients.clear()
        state.add_client(server.client_id, server.client_secret, ALL_SCOPES)
    return server


@pytest.fixture
def http(fake: FakeGreenhouse) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url) as client:
        yield client


@pytest.fixture
def mint(fake: FakeGreenhouse, http: httpx.Client) -> Mint:
    """Mint a token for the fake's client (or the one given) and return its value."""

    def run(**form: str) -> str:
        response = http.post(
            "/token",
            data={"grant_type": "client_credentials", **form},
            auth=(fake.client_id, fake.client_secret),
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    return run


@pytest.fixture
def bearer(mint: Mint) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint()}"}
