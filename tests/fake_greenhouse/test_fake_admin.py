"""The admin API: seeding, switches, fault injection, the request log and updated_at bumps."""

from __future__ import annotations

import httpx

from devstack.fake_greenhouse import FakeGreenhouse


def test_reset_with_demo_seed(http: httpx.Client) -> None:
    response = http.post("/admin/reset", json={"seed": "demo"})

    records = response.json()["records"]
    assert response.status_code == 200
    assert records["interviews"] >= 3
    assert records["email_templates"] >= 2


def test_unknown_seed_is_400(http: httpx.Client) -> None:
    assert http.post("/admin/reset", json={"seed": "huge"}).status_code == 400


def test_interview_update_bumps_updated_at(fake: FakeGreenhouse, http: httpx.Client) -> None:
    created = http.post(
        "/admin/interviews", json={"status": "scheduled", "updated_at": "2020-01-01T00:00:00.000Z"}
    ).json()

    updated = http.patch(
        f"/admin/interviews/{created['id']}", json={"starts_at": "2026-02-01T10:00:00.000Z"}
    ).json()

    assert updated["starts_at"] == "2026-02-01T10:00:00.000Z"
    assert updated["updated_at"] > "2020-01-01T00:00:00.000Z"


def test_panel_change_bumps_interview(fake: FakeGreenhouse, http: httpx.Client) -> None:
    user = http.post(
        "/admin/users", json={"first_name": "I", "last_name": "V", "primary_email": "iv@x.example"}
    ).json()
    interview = http.post(
        "/admin/interviews",
        json={"interviewers": [{"user_id": user["id"]}], "updated_at": "2020-01-01T00:00:00.000Z"},
    ).json()

    panel = http.put(
        f"/admin/interviews/{interview['id']}/interviewers",
        json={"interviewers": [{"email": "guest@x.example", "response_status": "accepted"}]},
    ).json()

    assert [row["email"] for row in panel] == ["guest@x.example"]
    assert fake.state.get("interviews", interview["id"])["updated_at"] > "2020-01-01T00:00:00.000Z"


def test_unknown_field_is_400(http: httpx.Client) -> None:
    response = http.post("/admin/jobs", json={"name": "J", "departments": []})

    assert response.status_code == 400
    assert "departments" in response.json()["error"]


def test_candidate_custom_fields_and_notes_readable(
    http: httpx.Client, bearer: dict[str, str]
) -> None:
    http.post(
        "/admin/custom_fields",
        json={"name": "Badge", "field_type": "candidate", "value_type": "short_text"},
    )
    candidate = http.post(
        "/admin/candidates",
        json={
            "first_name": "C",
            "last_name": "D",
            "custom_fields": [{"name_key": "badge", "value": "gold"}],
        },
    ).json()
    http.post("/v3/notes", json={"candidate_id": candidate["id"], "body": "hi"}, headers=bearer)

    fields = http.get(f"/admin/candidates/{candidate['id']}/custom_fields").json()
    notes = http.get(f"/admin/candidates/{candidate['id']}/notes").json()

    assert fields["badge"]["value"] == "gold"
    assert [note["body"] for note in notes] == ["hi"]


def test_config_switches(fake: FakeGreenhouse, http: httpx.Client) -> None:
    response = http.patch(
        "/admin/config", json={"token_ttl_seconds": 5, "revoke_on_new_token": True}
    )

    assert response.json()["token_ttl_seconds"] == 5.0
    assert fake.state.config.revoke_on_new_token is True
    assert http.patch("/admin/config", json={"rate_limit": "many"}).status_code == 400
    assert http.patch("/admin/config", json={"colour": 1}).status_code == 400


def test_scopes_set_through_admin(fake: FakeGreenhouse, http: httpx.Client) -> None:
    response = http.put(
        f"/admin/clients/{fake.client_id}/scopes", json={"scopes": ["harvest:jobs:list"]}
    )

    assert response.json()["scopes"] == ["harvest:jobs:list"]
    assert fake.state.clients[fake.client_id].scopes == {"harvest:jobs:list"}


def test_fault_hits_only_matching_requests(http: httpx.Client, bearer: dict[str, str]) -> None:
    http.post(
        "/admin/faults",
        json={"path_prefix": "/v3/notes", "method": "POST", "count": 2, "status": 500},
    )

    get = http.get("/v3/notes", headers=bearer)
    posts = [http.post("/v3/notes", json={}, headers=bearer) for _ in range(3)]

    assert get.status_code == 200
    assert [response.status_code for response in posts] == [500, 500, 422]
    assert "X-RateLimit-Remaining" in posts[0].headers
    assert http.get("/admin/faults").json() == []


def test_fault_with_retry_after(http: httpx.Client, bearer: dict[str, str]) -> None:
    http.post("/admin/faults", json={"path_prefix": "/v3/jobs", "status": 429, "retry_after": 1})

    response = http.get("/v3/jobs", headers=bearer)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"


def test_invalid_fault_is_400(http: httpx.Client) -> None:
    assert http.post("/admin/faults", json={"path_prefix": "/v3/jobs"}).status_code == 400
    assert http.post("/admin/faults", json={"path_prefix": "v3", "status": 500}).status_code == 400


def test_request_log_counts_and_resets(http: httpx.Client, bearer: dict[str, str]) -> None:
    http.delete("/admin/requests")
    for _ in range(2):
        http.get("/v3/jobs", headers=bearer)

    log = http.get("/admin/requests").json()

    assert log["counts"] == [{"method": "GET", "path": "/v3/jobs", "count": 2}]
    assert log["total"] == 2
    assert http.delete("/admin/requests").json()["total"] == 0


def test_revoke_all_tokens(http: httpx.Client, bearer: dict[str, str]) -> None:
    assert http.post("/admin/tokens/revoke").json() == {"revoked": 1}
    assert http.get("/v3/jobs", headers=bearer).status_code == 401
