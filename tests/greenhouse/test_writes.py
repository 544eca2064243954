"""Writes through the client: custom fields with options, candidate values, notes."""

from __future__ import annotations

from typing import Any

import pytest
from harvest_helpers import ClientFactory

from devstack.fake_greenhouse import FakeGreenhouse
from devstack.fake_greenhouse.faults import Fault
from shared.errors import (
    GreenhouseForbiddenError,
    GreenhouseUnavailableError,
    GreenhouseValidationError,
)
from shared.greenhouse import HarvestClient

SELECT_FIELD: dict[str, Any] = {
    "name": "Identity check",
    "field_type": "candidate",
    "value_type": "single_select",
    "custom_field_options": [{"name": "Verified"}, {"name": "Failed", "sort_order": 5}],
}


async def test_custom_field_created_with_option_ids(client: HarvestClient) -> None:
    field = await client.create_custom_field(SELECT_FIELD)

    assert field["name_key"] == "identity_check"
    assert [option["name"] for option in field["custom_field_options"]] == ["Verified", "Failed"]
    assert all(isinstance(option["id"], int) for option in field["custom_field_options"])


async def test_custom_field_update_adds_options(client: HarvestClient) -> None:
    field = await client.create_custom_field(SELECT_FIELD)

    updated = await client.update_custom_field(
        field["id"], {"custom_field_options": [{"name": "Pending"}]}
    )

    names = [option["name"] for option in updated["custom_field_options"]]
    assert sorted(names) == ["Failed", "Pending", "Verified"]
    assert all("id" in option for option in updated["custom_field_options"])


async def test_listed_custom_fields_carry_no_options(client: HarvestClient) -> None:
    await client.create_custom_field(SELECT_FIELD)

    listed = await client.list_all("custom_fields", field_type="candidate")

    assert len(listed) == 1
    assert "custom_field_options" not in listed[0]


async def test_custom_field_options_need_a_scope_we_lack(
    fake: FakeGreenhouse, client: HarvestClient
) -> None:
    fake.state.clients[fake.client_id].scopes.discard("harvest:custom_field_options:list")

    with pytest.raises(GreenhouseForbiddenError):
        await client.list_all("custom_field_options")


async def test_candidate_select_value_read_back_as_label(
    fake: FakeGreenhouse, client: HarvestClient
) -> None:
    field = await client.create_custom_field(SELECT_FIELD)
    verified = field["custom_field_options"][0]["id"]
    candidate = fake.state.insert("candidates", {"first_name": "Dana", "last_name": "Diaz"})

    updated = await client.update_candidate(
        candidate["id"], {"custom_fields": [{"name_key": "identity_check", "value": verified}]}
    )
    [listed] = await client.get_by_ids("candidates", [candidate["id"]])

    for record in (updated, listed):
        assert record["custom_fields"]["identity_check"] == {
            "name": "Identity check",
            "type": "single_select",
            "value": "Verified",
        }


async def test_candidate_unknown_option_rejected(
    fake: FakeGreenhouse, client: HarvestClient
) -> None:
    await client.create_custom_field(SELECT_FIELD)
    candidate = fake.state.insert("candidates", {"first_name": "Dana", "last_name": "Diaz"})

    with pytest.raises(GreenhouseValidationError) as caught:
        await client.update_candidate(
            candidate["id"], {"custom_fields": [{"name_key": "identity_check", "value": 1}]}
        )

    assert "not an active option" in caught.value.errors[0]


async def test_note_created_with_long_visibility(
    fake: FakeGreenhouse, client: HarvestClient
) -> None:
    candidate = fake.state.insert("candidates", {"first_name": "Dana", "last_name": "Diaz"})

    note = await client.create_note(
        {"candidate_id": candidate["id"], "body": "Identity verified.", "visibility": "private"}
    )
    listed = await client.list_all("notes", candidate_ids=[candidate["id"]])

    assert note["visibility"] == "privately_visible"
    assert [item["id"] for item in listed] == [note["id"]]


async def test_note_not_resent_after_timeout(
    fake: FakeGreenhouse, make_client: ClientFactory
) -> None:
    # Greenhouse may have created the note before the request timed out; only the caller, which
    # can list the candidate's notes, can tell whether sending it again would duplicate it.
    candidate = fake.state.insert("candidates", {"first_name": "Dana", "last_name": "Diaz"})
    fake.state.faults.add(Fault(path_prefix="/v3/notes", method="POST", delay_seconds=1.0))

    async with make_client(greenhouse_timeout_seconds=0.2) as harvest:
        with pytest.raises(GreenhouseUnavailableError):
            await harvest.create_note({"candidate_id": candidate["id"], "body": "Verified."})

    assert fake.state.request_counts[("POST", "/v3/notes")] == 1
