"""The fake's /token and /introspect endpoints and its 401 responses."""

from __future__ import annotations

import time

import httpx
from fake_helpers import Mint

from devstack.fake_greenhouse import FakeGreenhouse
from shared.events import parse_timestamp

REVOKED = "Token has already been refreshed or revoked. Please generate a new token."


def test_token_has_greenhouse_shape(fake: FakeGreenhouse, http: httpx.Client) -> None:
    response = http.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(fake.client_id, fake.client_secret),
    )

    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["access_token"].count(".") == 2
    assert parse_timestamp(body["expires_at"]) is not None
    assert "expires_in" not in body
    assert "scope" not in body


def test_token_optional_fields_switchable(fake: FakeGreenhouse, http: httpx.Client) -> None:
    fake.state.config.update(
        {"emit_expires_in": True, "token_response_scope": True, "token_ttl_seconds": 120}
    )

    body = http.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(fake.client_id, fake.client_secret),
    ).json()

    assert body["expires_in"] == 120
    assert "harvest:jobs:list" in body["scope"].split()


def test_wrong_secret_is_invalid_client(fake: FakeGreenhouse, http: httpx.Client) -> None:
    response = http.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(fake.client_id, "nope")
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_credentials_in_body_rejected(fake: FakeGreenhouse, http: httpx.Client) -> None:
    response = http.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
        },
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_other_grant_type_rejected(fake: FakeGreenhouse, http: httpx.Client) -> None:
    response = http.post(
        "/token", data={"grant_type": "password"}, auth=(fake.client_id, fake.client_secret)
    )

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_unknown_sub_rejected(fake: FakeGreenhouse, http: httpx.Client) -> None:
    response = http.post(
        "/token",
        data={"grant_type": "client_credentials", "sub": "12345"},
        auth=(fake.client_id, fake.client_secret),
    )

    assert response.status_code == 400


def test_introspection_reports_scopes_and_org(
    fake: FakeGreenhouse, http: httpx.Client, mint: Mint
) -> None:
    fake.state.clients[fake.client_id].scopes = {"harvest:jobs:list", "harvest:users:list"}
    token = mint()

    body = http.post(
        "/introspect", data={"token": token}, auth=(fake.client_id, fake.client_secret)
    ).json()

    assert body["active"] is True
    assert body["scope"] == "harvest:jobs:list harvest:users:list"
    claims = body["https://auth.greenhouse.io/claims"]
    assert claims["organization"] == fake.state.organization
    assert claims["user_role"] == "site_admin"


def test_introspection_of_revoked_token_inactive(
    fake: FakeGreenhouse, http: httpx.Client, mint: Mint
) -> None:
    token = mint()
    fake.state.revoke_all_tokens()

    body = http.post(
        "/introspect", data={"token": token}, auth=(fake.client_id, fake.client_secret)
    ).json()

    assert body == {"active": False}


def test_introspection_needs_client_auth(http: httpx.Client, mint: Mint) -> None:
    response = http.post("/introspect", data={"token": mint()})

    assert response.status_code == 401


def test_new_token_revokes_old_when_switched_on(
    fake: FakeGreenhouse, http: httpx.Client, mint: Mint
) -> None:
    fake.state.config.revoke_on_new_token = True
    old = mint()
    new = mint()

    old_response = http.get("/v3/jobs", headers={"Authorization": f"Bearer {old}"})
    new_response = http.get("/v3/jobs", headers={"Authorization": f"Bearer {new}"})

    assert old_response.status_code == 401
    assert old_response.json() == {"message": "Unauthorized", "errors": [REVOKED]}
    assert new_response.status_code == 200


def test_old_token_kept_by_default(http: httpx.Client, mint: Mint) -> None:
    old = mint()
    mint()

    assert http.get("/v3/jobs", headers={"Authorization": f"Bearer {old}"}).status_code == 200


def test_expired_token_unauthorized(fake: FakeGreenhouse, http: httpx.Client, mint: Mint) -> None:
    fake.state.config.token_ttl_seconds = 0.2
    token = mint()
    deadline = fake.state.tokens[token].expires_at
    while time.time() < deadline:
        time.sleep(0.02)

    response = http.get("/v3/jobs", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401


def test_missing_bearer_unauthorized(http: httpx.Client) -> None:
    response = http.get("/v3/jobs")

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert "X-RateLimit-Limit" in response.headers
