"""Fixtures for the Harvest client tests: a fake Greenhouse over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from harvest_helpers import ClientFactory, RecordingTransport

from devstack.fake_greenhouse import FakeGreenhouse
from shared.greenhouse import HarvestClient


@pytest.fixture
def fake() -> Iterator[FakeGreenhouse]:
    with FakeGreenhouse() as server:
        yield server


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def make_client(fake: FakeGreenhouse) -> ClientFactory:
    """Build clients on the fake with short backoffs, so retry tests stay fast."""

    def build(transport: Any = None, **settings: Any) -> HarvestClient:
        return HarvestClient(fake.settings(**settings), transport=transport, backoff_seconds=0.01)

    return build


@pytest.fixture
async def client(
    make_client: ClientFactory, transport: RecordingTransport
) -> AsyncIterator[HarvestClient]:
    async with make_client(transport) as harvest:
        yield harvest
