"""Strictness of the fake's /v3 endpoints: shapes, pagination, filters, scopes, rate limit."""

from __future__ import annotations

import httpx
import pytest
from fake_helpers import Mint

from devstack.fake_greenhouse import FakeGreenhouse

CURSOR_MESSAGE = "When passing a cursor, do not include other query params."


def _next_url(response: httpx.Response) -> str | None:
    return response.links.get("next", {}).get("url")


def test_list_is_bare_array_id_descending(
    fake: FakeGreenhouse, http: httpx.Client, bearer: dict[str, str]
) -> None:
    ids = [fake.state.insert("sources", {"name": f"S{n}"})["id"] for n in range(3)]

    response = http.get("/v3/sources", headers=bearer)

    assert response.status_code == 200
    assert [item["id"] for item in response.json()] == sorted(ids, reverse=True)
    assert "Link" not in response.headers


def test_cursor_pages_until_no_link(
    fake: FakeGreenhouse, http: httpx.Client, bearer: dict[str, str]
) -> None:
    ids = [fake.state.insert("sources", {"name": f"S{n}"})["id"] for n in range(5)]

    first = http.get("/v3/sources", params={"per_page": 2}, headers=bearer)
    second = http.get(_next_url(first) or "", headers=bearer)
    third = http.get(_next_url(second) or "", headers=bearer)

    seen = [item["id"] for page in (first, second, third) for item in page.json()]
    assert seen == sorted(ids, reverse=True)
    assert _next_url(third) is None
    assert list(httpx.URL(_next_url(first) or "").params) == ["cursor"]


def test_cursor_with_other_params_is_422(
    fake: FakeGreenhouse, http: httpx.Client, bearer: dict[str, str]
) -> None:
    for n in range(3):
        fake.state.insert("sources", {"name": f"S{n}"})
    first = http.get("/v3/sources", params={"per_page": 1}, headers=bearer)

    response = http.get(f"{_next_url(first)}&per_page=1", headers=bearer)

    assert response.status_code == 422
    assert response.json() == {"errors": [CURSOR_MESSAGE]}


@pytest.mark.parametrize(
    "params",
    [
        {"per_page": "501"},
        {"per_page": "0"},
        {"ids": ",".join(str(n) for n in range(51))},
        {"ids": "1,x"},
        {"updated_at": "2026-01-01"},
        {"updated_at": "since|2026-01-01T00:00:00Z"},
        {"updated_after": "2026-01-01T00:00:00Z"},
        {"cursor": "not-a-cursor"},
    ],
)
def test_invalid_query_is_422(
    http: httpx.Client, bearer: dict[str, str], params: dict[str, str]
) -> None:
    response = http.get("/v3/jobs", params=params, headers=bearer)

    assert response.status_code == 422
    assert isinstance(response.json()["errors"][0], str)


def test_updated_at_window_filters(
    fake: FakeGreenhouse, http: httpx.Client, bearer: dict[str, str]
) -> None:
    fake.state.insert("jobs", {"name": "old", "updated_at": "2026-01-01T00:00:00.000Z"})
    inside = fake.state.insert("jobs", {"name": "inside", "updated_at": "2026-01-05T00:00:00.000Z"})
    fake.state.insert("jobs", {"name": "late", "updated_at": "2026-01-09T00:00:00.000Z"})

    response = http.get(
        "/v3/jobs",
        params={"updated_at": "gte|2026-01-02T00:00:00Z|lte|2026-01-06T00:00:00Z"},
        headers=bearer,
    )

    assert [item["id"] for item in response.json()] == [inside["id"]]


def test_parent_ids_filter(
    fake: FakeGreenhouse, http: httpx.Client, bearer: dict[str, str]
) -> None:
    interview = fake.state.insert("interviews", {"status": "scheduled"})
    user = fake.state.insert(
        "users", {"first_name": "A", "last_name": "B", "primary_email": "a@x.example"}
    )
    fake.state.set_panel(interview["id"], [{"user_id": user["id"]}, {"email": "guest@x.example"}])
    other = fake.state.insert("interviews", {})
    fake.state.set_panel(other["id"], [{"user_id": user["id"]}])

    rows = http.get(
        "/v3/interviewers", params={"interview_ids": interview["id"]}, headers=bearer
    ).json()

    assert sorted(row["email"] for row in rows) == ["a@x.example", "guest@x.example"]
    assert all(row["interview_id"] == interview["id"] for row in rows)


def test_missing_scope_is_403(
    fake: FakeGreenhouse, http: httpx.Client, bearer: dict[str, str]
) -> None:
    fake.state.clients[fake.client_id].scopes.discard("harvest:interviews:list")

    response = http.get("/v3/interviews", headers=bearer)

    assert response.status_code == 403


def test_non_admin_acting_user_is_403(fake: FakeGreenhouse, http: httpx.Client, mint: Mint) -> None:
    user = fake.state.insert("users", {"first_name": "N", "last_name": "A"})
    token = mint(sub=str(user["id"]))

    response = http.get("/v3/jobs", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403


def test_rate_limit_headers_and_429(
    fake: FakeGreenhouse, http: httpx.Client, bearer: dict[str, str]
) -> None:
    fake.state.config.update({"rate_limit": 2, "rate_window_seconds": 30.0})

    responses = [http.get("/v3/jobs", headers=bearer) for _ in range(3)]

    assert [response.status_code for response in responses] == [200, 200, 429]
    assert [response.headers["X-RateLimit-Remaining"] for response in responses] == ["1", "0", "0"]
    assert all(response.headers["X-RateLimit-Limit"] == "2" for response in responses)
    assert 1 <= int(responses[2].headers["Retry-After"]) <= 30
    assert responses[0].headers["X-RateLimit-Reset"] == responses[2].headers["X-RateLimit-Reset"]


def test_single_record_get_is_404(
    fake: FakeGreenhouse, http: httpx.Client, bearer: dict[str, str]
) -> None:
    job = fake.state.insert("jobs", {"name": "J"})

    assert http.get(f"/v3/jobs/{job['id']}", headers=bearer).status_code == 404


def test_custom_fields_list_without_options(
    fake: FakeGreenhouse, http: httpx.Client, bearer: dict[str, str]
) -> None:
    created = http.post(
        "/v3/custom_fields",
        json={
            "name": "Check",
            "field_type": "candidate",
            "value_type": "multi_select",
            "custom_field_options": [{"name": "A"}, {"name": "B"}],
        },
        headers=bearer,
    )
    listed = http.get("/v3/custom_fields", headers=bearer).json()
    options = http.get(
        "/v3/custom_field_options",
        params={"custom_field_ids": created.json()["id"]},
        headers=bearer,
    ).json()

    assert created.status_code == 201
    assert "custom_field_options" not in listed[0]
    assert sorted(option["name"] for option in options) == ["A", "B"]
