"""``POST /token`` and ``POST /introspect`` as Greenhouse's OAuth server implements them.

Both authenticate the client with HTTP Basic only; credentials in the form body are rejected
(Greenhouse documents Basic, and refusing the body form catches client bugs). Errors use the
RFC 6749 ``{"error", "error_description"}`` shape with 400 or 401.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from devstack.fake_greenhouse.state import FakeState, OAuthClient

CLAIMS_KEY = "https://auth.greenhouse.io/claims"


async def read_form(request: Request) -> dict[str, str] | None:
    """Decode a ``application/x-www-form-urlencoded`` body; None for any other content type."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    text = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(text, keep_blank_values=True))


def oauth_error(status: int, error: str, description: str) -> JSONResponse:
    """Build an RFC 6749 error response."""
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def authenticate_client(state: FakeState, request: Request) -> OAuthClient | None:
    """Return the client named by a valid ``Authorization: Basic`` header, else None."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    with state.lock:
        client = state.clients.get(client_id)
    if client is None or client.client_secret != secret:
        return None
    return client


async def apply_fault(state: FakeState, request: Request) -> Response | None:
    """Apply a pending fault to this request: wait, then return its error response if any."""
    with state.lock:
        fault = state.faults.take(request.method, request.url.path)
    if fault is None:
        return None
    if fault.delay_seconds:
        # Read the body first, as a slow server would have: a client that times out meanwhile
        # must not prevent the request from taking effect.
        await request.body()
        await asyncio.sleep(fault.delay_seconds)
    if fault.status is None:
        return None
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    body = fault.body if fault.body is not None else {"message": f"injected fault {fault.status}"}
    return JSONResponse(body, status_code=fault.status, headers=headers)


async def token_endpoint(request: Request) -> Response:
    """Mint a client-credentials token."""
    state: FakeState = request.app.state.fake
    injected = await apply_fault(state, request)
    if injected is not None:
        return injected
    form = await read_form(request)
    if form is None:
        return oauth_error(400, "invalid_request", "the body must be form-encoded")
    if "client_id" in form or "client_secret" in form:
        return oauth_error(
            400, "invalid_request", "send client credentials with HTTP Basic, not in the body"
        )
    client = authenticate_client(state, request)
    if client is None:
        return oauth_error(401, "invalid_client", "Client authentication failed.")
    if form.get("grant_type") != "client_credentials":
        return oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported.")
    try:
        sub = _parse_sub(state, form.get("sub"))
    except ValueError:
        return oauth_error(400, "invalid_request", "sub does not name an existing user id.")

    token = state.issue_token(client, sub)
    body: dict[str, Any] = {
        "access_token": token.value,
        "token_type": "Bearer",
        "expires_at": datetime.fromtimestamp(token.expires_at, UTC).isoformat(),
    }
    with state.lock:
        if state.config.emit_expires_in:
            body["expires_in"] = int(token.expires_at - token.issued_at)
        if state.config.token_response_scope:
            body["scope"] = " ".join(sorted(client.scopes))
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _parse_sub(state: FakeState, value: str | None) -> int | None:
    """Return the acting user id, or None when absent; raise ValueError when it names no user."""
    if not value:
        return None
    with state.lock:
        if not value.isdigit() or int(value) not in state.records["users"]:
            raise ValueError(f"no user {value!r}")
    return int(value)


async def introspect_endpoint(request: Request) -> Response:
    """Report a token's state, scopes and organization (RFC 7662 plus Greenhouse's claims)."""
    state: FakeState = request.app.state.fake
    injected = await apply_fault(state, request)
    if injected is not None:
        return injected
    with state.lock:
        enabled = state.config.introspection_enabled
    if not enabled:
        return JSONResponse({"message": "Not Found"}, status_code=404)
    client = authenticate_client(state, request)
    if client is None:
        return oauth_error(401, "invalid_client", "Client authentication failed.")
    form = await read_form(request)
    value = form.get("token") if form is not None else None
    with state.lock:
        token = state.tokens.get(value) if isinstance(value, str) else None
        if (
            token is None
            or token.client_id != client.client_id
            or token.problem(time.time()) is not None
        ):
            return JSONResponse({"active": False})
        return JSONResponse(
            {
                "active": True,
                "client_id": client.client_id,
                "sub": str(token.sub) if token.sub is not None else None,
                "scope": " ".join(sorted(client.scopes)),
                "token_type": "Bearer",
                "iat": int(token.issued_at),
                "exp": int(token.expires_at),
                CLAIMS_KEY: {
                    "organization": dict(state.organization),
                    "user_role": state.user_role(token),
                },
            }
        )
