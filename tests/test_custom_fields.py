"""Candidate custom fields against the fake Greenhouse over HTTP and the embedded broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest

from devstack.fake_greenhouse import FakeGreenhouse
from shared.custom_fields import (
    STATUS_OPTIONS,
    CandidateFields,
    FieldSpec,
    field_from_response,
    match_field,
    name_key_for,
    stored_field,
)
from shared.errors import ConfigurationError, GreenhouseNotFoundError
from shared.greenhouse import HarvestClient
from shared.kafka import Publisher, ensure_topics, read_compacted
from shared.settings import KafkaSettings
from shared.topics import INTEGRATION_STATE

pytestmark = pytest.mark.integration

STATUS_KEY = "identity_verification_status"
LINK_KEY = "secure_interview_link"


@pytest.fixture
def fake() -> Iterator[FakeGreenhouse]:
    with FakeGreenhouse() as server:
        yield server


@pytest.fixture
async def publisher(kafka_settings: KafkaSettings) -> AsyncIterator[Publisher]:
    await ensure_topics(kafka_settings, [INTEGRATION_STATE])
    producer = Publisher(kafka_settings)
    await producer.start()
    yield producer
    await producer.stop()


def harvest(fake: FakeGreenhouse) -> HarvestClient:
    return HarvestClient(fake.settings(), backoff_seconds=0.01)


def count(fake: FakeGreenhouse, method: str, path: str) -> int:
    with fake.state.lock:
        return fake.state.request_counts[(method, path)]


def fields_named(fake: FakeGreenhouse, name: str) -> list[dict[str, Any]]:
    with fake.state.lock:
        return [f for f in fake.state.records["custom_fields"].values() if f["name"] == name]


def add_candidate(fake: FakeGreenhouse) -> int:
    candidate: dict[str, Any] = fake.state.insert(
        "candidates", {"first_name": "Test", "last_name": "Candidate"}
    )
    return int(candidate["id"])


def stored_value(fake: FakeGreenhouse, candidate_id: int, name_key: str) -> Any:
    with fake.state.lock:
        return fake.state.candidate_view(fake.state.get("candidates", candidate_id))[
            "custom_fields"
        ][name_key]["value"]


# Pure helpers


def test_name_key_from_name() -> None:
    assert name_key_for("Identity Verification Status") == STATUS_KEY
    assert name_key_for("  Secure Interview-Link!") == LINK_KEY


def test_match_field_prefers_name_key() -> None:
    spec = FieldSpec("Identity Verification Status", "single_select", STATUS_OPTIONS)
    listing = [
        {
            "id": 1,
            "name": "identity verification status",
            "name_key": "other",
            "value_type": "single_select",
        },
        {"id": 2, "name": "Renamed", "name_key": STATUS_KEY, "value_type": "single_select"},
    ]

    assert match_field(listing, spec) == listing[1]
    assert match_field(listing[:1], spec) == listing[0]
    assert match_field([], spec) is None


def test_match_field_rejects_other_value_type() -> None:
    spec = FieldSpec("Secure Interview Link", "url")
    listing = [
        {"id": 3, "name": "Secure Interview Link", "name_key": LINK_KEY, "value_type": "short_text"}
    ]

    with pytest.raises(ConfigurationError, match="short_text field"):
        match_field(listing, spec)


def test_stored_field_found_by_name() -> None:
    spec = FieldSpec("Identity Verification Status", "single_select", STATUS_OPTIONS)
    document = {
        "id": 9,
        "name": spec.name,
        "value_type": "single_select",
        "options": {"Pending": 4},
    }
    state = {"custom-field:ivs": orjson.dumps(document), "custom-field:broken": b"{"}

    known = stored_field(state, spec)

    assert known is not None
    assert known.name_key == "ivs"
    assert known.options == {"Pending": 4}
    assert known.missing_options(spec) == tuple(o for o in STATUS_OPTIONS if o != "Pending")


def test_field_from_response_splits_archived_options() -> None:
    known = field_from_response(
        {
            "id": 5,
            "name": "Status",
            "name_key": "status",
            "value_type": "single_select",
            "custom_field_options": [
                {"id": 1, "name": "Pending", "active": True},
                {"id": 2, "name": "Failed", "active": False},
            ],
        }
    )

    assert known.options == {"Pending": 1}
    assert known.archived_options == {"Failed": 2}


# Against the fake Greenhouse


async def test_ensure_creates_and_stores_fields(
    fake: FakeGreenhouse, publisher: Publisher, kafka_settings: KafkaSettings
) -> None:
    async with harvest(fake) as client:
        fields = CandidateFields(client, publisher, kafka_settings)
        await fields.ensure()

    assert fields.status_field is not None
    assert set(fields.status_field.options) == set(STATUS_OPTIONS)
    assert fields.link_field is not None
    assert fields.link_field.value_type == "url"
    state = await read_compacted(kafka_settings, INTEGRATION_STATE)
    status_record = orjson.loads(state[f"custom-field:{STATUS_KEY}"])
    assert status_record == {
        "id": fields.status_field.id,
        "name": "Identity Verification Status",
        "value_type": "single_select",
        "options": fields.status_field.options,
    }
    link_record = orjson.loads(state[f"custom-field:{LINK_KEY}"])
    assert link_record["options"] == {}


async def test_ensure_uses_stored_ids_without_calls(
    fake: FakeGreenhouse, publisher: Publisher, kafka_settings: KafkaSettings
) -> None:
    async with harvest(fake) as client:
        await CandidateFields(client, publisher, kafka_settings).ensure()
    requests_before = sum(fake.state.request_counts.values())

    async with harvest(fake) as client:
        fields = CandidateFields(client, publisher, kafka_settings)
        await fields.ensure()
        assert client.request_count == 0

    assert sum(fake.state.request_counts.values()) == requests_before
    assert fields.status_field is not None
    assert set(fields.status_field.options) == set(STATUS_OPTIONS)


async def test_two_replicas_create_each_field_once(
    fake: FakeGreenhouse, publisher: Publisher, kafka_settings: KafkaSettings
) -> None:
    async with harvest(fake) as first, harvest(fake) as second:
        replicas = [
            CandidateFields(first, publisher, kafka_settings),
            CandidateFields(second, publisher, kafka_settings),
        ]
        await asyncio.gather(*(replica.ensure() for replica in replicas))

    assert len(fields_named(fake, "Identity Verification Status")) == 1
    assert len(fields_named(fake, "Secure Interview Link")) == 1
    status_id = fields_named(fake, "Identity Verification Status")[0]["id"]
    assert len(fake.state.options_of(status_id)) == len(STATUS_OPTIONS)
    for replica in replicas:
        assert replica.status_field is not None
        assert replica.status_field.id == status_id
        assert set(replica.status_field.options) == set(STATUS_OPTIONS)


async def test_ensure_adopts_field_from_earlier_install(
    fake: FakeGreenhouse, publisher: Publisher, kafka_settings: KafkaSettings
) -> None:
    earlier = fake.state.insert(
        "custom_fields",
        {
            "name": "Identity Verification Status",
            "name_key": STATUS_KEY,
            "value_type": "single_select",
        },
    )
    for order, name in enumerate(("Not Started", "Pending", "Verified")):
        fake.state.insert(
            "custom_field_options",
            {"custom_field_id": earlier["id"], "name": name, "sort_order": order},
        )
    archived = fake.state.insert(
        "custom_field_options",
        {"custom_field_id": earlier["id"], "name": "Failed", "sort_order": 3, "active": False},
    )

    async with harvest(fake) as client:
        fields = CandidateFields(client, publisher, kafka_settings)
        await fields.ensure()

    # Only the link field, which did not exist, was created.
    assert count(fake, "POST", "/v3/custom_fields") == 1
    assert len(fields_named(fake, "Identity Verification Status")) == 1
    assert fields.status_field is not None
    assert fields.status_field.id == earlier["id"]
    assert set(fields.status_field.options) == set(STATUS_OPTIONS)
    assert fields.status_field.options["Failed"] == archived["id"]
    assert len(fake.state.options_of(earlier["id"])) == len(STATUS_OPTIONS)


async def test_ensure_rejects_field_of_other_type(
    fake: FakeGreenhouse, publisher: Publisher, kafka_settings: KafkaSettings
) -> None:
    fake.state.insert(
        "custom_fields",
        {"name": "Secure Interview Link", "name_key": LINK_KEY, "value_type": "short_text"},
    )

    async with harvest(fake) as client:
        fields = CandidateFields(client, publisher, kafka_settings)
        with pytest.raises(ConfigurationError, match="needs a url field"):
            await fields.ensure()


async def test_configured_names_are_used(
    fake: FakeGreenhouse, publisher: Publisher, kafka_settings: KafkaSettings
) -> None:
    async with harvest(fake) as client:
        fields = CandidateFields(
            client,
            publisher,
            kafka_settings,
            status_field_name="ID Check",
            link_field_name="Interview Room",
        )
        await fields.ensure()

    assert len(fields_named(fake, "ID Check")) == 1
    assert len(fields_named(fake, "Interview Room")) == 1
    assert fields_named(fake, "Identity Verification Status") == []


async def test_set_status_writes_only_on_change(
    fake: FakeGreenhouse, publisher: Publisher, kafka_settings: KafkaSettings
) -> None:
    candidate_id = add_candidate(fake)
    path = f"/v3/candidates/{candidate_id}"
    async with harvest(fake) as client:
        fields = CandidateFields(client, publisher, kafka_settings)
        await fields.ensure()

        assert await fields.set_status(candidate_id, "Verified") is True
        assert stored_value(fake, candidate_id, STATUS_KEY) == "Verified"
        assert count(fake, "PATCH", path) == 1

        assert await fields.set_status(candidate_id, "Verified") is False
        assert count(fake, "PATCH", path) == 1

        assert await fields.set_status(candidate_id, "Failed") is True
        assert stored_value(fake, candidate_id, STATUS_KEY) == "Failed"
        assert count(fake, "PATCH", path) == 2


async def test_set_status_respects_only_from(
    fake: FakeGreenhouse, publisher: Publisher, kafka_settings: KafkaSettings
) -> None:
    candidate_id = add_candidate(fake)
    async with harvest(fake) as client:
        fields = CandidateFields(client, publisher, kafka_settings)
        await fields.ensure()
        initial: set[str | None] = {None, "Not Started"}

        assert await fields.set_status(candidate_id, "Pending", only_from=initial) is True
        assert await fields.set_status(candidate_id, "Mismatch") is True
        assert await fields.set_status(candidate_id, "Pending", only_from=initial) is False

    assert stored_value(fake, candidate_id, STATUS_KEY) == "Mismatch"


async def test_set_status_rejects_unknown_status(
    fake: FakeGreenhouse, publisher: Publisher, kafka_settings: KafkaSettings
) -> None:
    async with harvest(fake) as client:
        fields = CandidateFields(client, publisher, kafka_settings)
        with pytest.raises(ValueError, match="invalid verification status 'Done'"):
            await fields.set_status(1, "Done")


async def test_set_status_unknown_candidate(
    fake: FakeGreenhouse, publisher: Publisher, kafka_settings: KafkaSettings
) -> None:
    async with harvest(fake) as client:
        fields = CandidateFields(client, publisher, kafka_settings)
        await fields.ensure()
        with pytest.raises(GreenhouseNotFoundError, match="candidate 800999999 was not found"):
            await fields.set_status(800_999_999, "Verified")


async def test_set_status_recovers_stale_option_ids(
    fake: FakeGreenhouse, publisher: Publisher, kafka_settings: KafkaSettings
) -> None:
    candidate_id = add_candidate(fake)
    async with harvest(fake) as client:
        await CandidateFields(client, publisher, kafka_settings).ensure()
    # An administrator archives "Verified"; the stored option id no longer works.
    with fake.state.lock:
        status = fields_named(fake, "Identity Verification Status")[0]
        stale = next(
            option
            for option in fake.state.options_of(status["id"]).values()
            if option["name"] == "Verified"
        )
        stale["active"] = False

    async with harvest(fake) as client:
        fields = CandidateFields(client, publisher, kafka_settings)
        await fields.ensure()
        assert await fields.set_status(candidate_id, "Verified") is True

    assert stored_value(fake, candidate_id, STATUS_KEY) == "Verified"


async def test_set_secure_link_writes_only_on_change(
    fake: FakeGreenhouse, publisher: Publisher, kafka_settings: KafkaSettings
) -> None:
    candidate_id = add_candidate(fake)
    url = "https://verify.example.invalid/join/abc"
    async with harvest(fake) as client:
        fields = CandidateFields(client, publisher, kafka_settings)
        await fields.ensure()

        assert await fields.set_secure_link(candidate_id, url) is True
        assert await fields.set_secure_link(candidate_id, url) is False
        assert stored_value(fake, candidate_id, LINK_KEY) == url

        assert await fields.set_secure_link(candidate_id, None) is True
        assert stored_value(fake, candidate_id, LINK_KEY) is None


async def test_set_protection_one_read_one_write(
    fake: FakeGreenhouse, publisher: Publisher, kafka_settings: KafkaSettings
) -> None:
    candidate_id = add_candidate(fake)
    path = f"/v3/candidates/{candidate_id}"
    initial: set[str | None] = {None, "Not Started"}
    url = "https://verify.example.invalid/join/abc"
    async with harvest(fake) as client:
        fields = CandidateFields(client, publisher, kafka_settings)
        await fields.ensure()
        reads = count(fake, "GET", "/v3/candidates")

        assert await fields.set_protection(candidate_id, url, status="Pending", only_from=initial)
        assert count(fake, "GET", "/v3/candidates") == reads + 1
        assert count(fake, "PATCH", path) == 1
        assert stored_value(fake, candidate_id, LINK_KEY) == url
        assert stored_value(fake, candidate_id, STATUS_KEY) == "Pending"

        repeated = await fields.set_protection(
            candidate_id, url, status="Pending", only_from=initial
        )
        assert repeated is False
        assert count(fake, "PATCH", path) == 1

        await fields.set_status(candidate_id, "Verified")
        new_url = "https://verify.example.invalid/join/def"
        assert await fields.set_protection(
            candidate_id, new_url, status="Pending", only_from=initial
        )
        assert stored_value(fake, candidate_id, STATUS_KEY) == "Verified"
        assert stored_value(fake, candidate_id, LINK_KEY) == new_url
