"""The fake's write endpoints refuse what Greenhouse refuses (422/404) and change nothing then."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from devstack.fake_greenhouse import FakeGreenhouse


@pytest.fixture
def setup(fake: FakeGreenhouse, http: httpx.Client, bearer: dict[str, str]) -> dict[str, Any]:
    select = http.post(
        "/v3/custom_fields",
        json={
            "name": "Seniority",
            "field_type": "candidate",
            "value_type": "single_select",
            "custom_field_options": [{"name": "Junior"}, {"name": "Senior"}],
        },
        headers=bearer,
    ).json()
    http.post(
        "/v3/custom_fields",
        json={"name": "Years", "field_type": "candidate", "value_type": "number"},
        headers=bearer,
    )
    candidate = fake.state.insert("candidates", {"first_name": "Dana", "last_name": "Diaz"})
    return {"select": select, "candidate": candidate}


def _patch(
    http: httpx.Client, bearer: dict[str, str], candidate_id: int, entries: list[Any]
) -> httpx.Response:
    return http.patch(
        f"/v3/candidates/{candidate_id}", json={"custom_fields": entries}, headers=bearer
    )


@pytest.mark.parametrize(
    "entries",
    [
        [{"name_key": "years", "value": "three"}],
        [{"name_key": "seniority", "value": "Senior"}],
        [{"name_key": "seniority", "value": 12345}],
        [{"name_key": "no_such_field", "value": 1}],
        [{"name_key": "years", "value": 3}, {"name_key": "seniority", "value": 1}],
        [{"id": 1, "value": 3}],
    ],
)
def test_invalid_custom_field_value_is_422(
    fake: FakeGreenhouse,
    http: httpx.Client,
    bearer: dict[str, str],
    setup: dict[str, Any],
    entries: list[Any],
) -> None:
    candidate_id = setup["candidate"]["id"]

    response = _patch(http, bearer, candidate_id, entries)

    assert response.status_code == 422
    assert response.json()["errors"][0]["message"]
    assert fake.state.custom_values.get(candidate_id, {}) == {}


def test_unknown_candidate_is_404(
    http: httpx.Client, bearer: dict[str, str], setup: dict[str, Any]
) -> None:
    response = _patch(http, bearer, 1, [{"name_key": "years", "value": 3}])

    assert response.status_code == 404


def test_values_merged_by_name_key(
    fake: FakeGreenhouse, http: httpx.Client, bearer: dict[str, str], setup: dict[str, Any]
) -> None:
    candidate_id = setup["candidate"]["id"]
    senior = setup["select"]["custom_field_options"][1]["id"]

    _patch(http, bearer, candidate_id, [{"name_key": "years", "value": 3}])
    response = _patch(http, bearer, candidate_id, [{"name_key": "seniority", "value": senior}])

    fields = response.json()["custom_fields"]
    assert fields["years"]["value"] == 3
    assert fields["seniority"] == {"name": "Seniority", "type": "single_select", "value": "Senior"}


def test_candidate_patch_bumps_updated_at(
    fake: FakeGreenhouse, http: httpx.Client, bearer: dict[str, str], setup: dict[str, Any]
) -> None:
    candidate = setup["candidate"]
    candidate["updated_at"] = "2020-01-01T00:00:00.000Z"

    response = _patch(http, bearer, candidate["id"], [{"name_key": "years", "value": None}])

    assert response.json()["updated_at"] > "2020-01-01T00:00:00.000Z"


def test_note_short_visibility_in_long_out(
    fake: FakeGreenhouse, http: httpx.Client, bearer: dict[str, str], setup: dict[str, Any]
) -> None:
    response = http.post(
        "/v3/notes",
        json={"candidate_id": setup["candidate"]["id"], "body": "Checked.", "visibility": "public"},
        headers=bearer,
    )

    assert response.status_code == 201
    assert response.json()["visibility"] == "publicly_visible"
    assert response.json()["type"] == "NOTE"


@pytest.mark.parametrize(
    "body",
    [
        {"candidate_id": 1, "body": "x"},
        {"body": "   "},
        {"candidate_id": None, "body": ""},
        {"visibility": "everyone"},
        {"note_type": "INTERVIEW"},
        {"colour": "red"},
    ],
)
def test_invalid_note_is_422(
    http: httpx.Client, bearer: dict[str, str], setup: dict[str, Any], body: dict[str, Any]
) -> None:
    full = {"candidate_id": setup["candidate"]["id"], "body": "text", **body}

    response = http.post("/v3/notes", json=full, headers=bearer)

    assert response.status_code == 422


def test_custom_field_patch_adds_options(
    http: httpx.Client, bearer: dict[str, str], setup: dict[str, Any]
) -> None:
    field_id = setup["select"]["id"]

    response = http.patch(
        f"/v3/custom_fields/{field_id}",
        json={"custom_field_options": [{"name": "Principal"}]},
        headers=bearer,
    )

    options = response.json()["custom_field_options"]
    assert [option["name"] for option in options] == ["Junior", "Senior", "Principal"]
    assert all(isinstance(option["id"], int) for option in options)


def test_duplicate_option_name_is_422(
    http: httpx.Client, bearer: dict[str, str], setup: dict[str, Any]
) -> None:
    response = http.patch(
        f"/v3/custom_fields/{setup['select']['id']}",
        json={"custom_field_options": [{"name": "Senior"}]},
        headers=bearer,
    )

    assert response.status_code == 422


def test_select_field_without_options_is_422(http: httpx.Client, bearer: dict[str, str]) -> None:
    response = http.post(
        "/v3/custom_fields",
        json={"name": "Empty", "field_type": "candidate", "value_type": "single_select"},
        headers=bearer,
    )

    assert response.status_code == 422
