"""The ``/v3`` endpoints: list calls for every resource and the four writes the integration uses.

Each request goes through these checks in order. The Bearer token must be live, else 401
(missing, expired or revoked). The credential's rate window must have room, else 429 with
``Retry-After``, and the ``X-RateLimit-*`` headers go on every response. Injected faults apply
next. The endpoint's scope must be granted and, for reads, the acting user must be a Site
Admin, else 403. Lists are bare JSON arrays in id-descending
order with an opaque cursor in ``Link`` when more pages exist.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from devstack.fake_greenhouse import writes
from devstack.fake_greenhouse.auth import apply_fault
from devstack.fake_greenhouse.custom_fields import WriteError
from devstack.fake_greenhouse.listing import QueryError, parse_query, project, select_page
from devstack.fake_greenhouse.records import RESOURCES, public_view
from devstack.fake_greenhouse.state import FakeState, IssuedToken, RecordNotFound

ANONYMOUS_RATE_KEY = "(no valid token)"


@dataclass(frozen=True)
class Endpoint:
    """One v3 operation: the scope it needs and whether it is a read."""

    scope: str
    read: bool


ENDPOINTS: dict[tuple[str, str, bool], Endpoint] = {
    ("GET", resource, False): Endpoint(f"harvest:{resource}:list", read=True)
    for resource in RESOURCES
}
ENDPOINTS[("PATCH", "candidates", True)] = Endpoint("harvest:candidates:update", read=False)
ENDPOINTS[("POST", "custom_fields", False)] = Endpoint("harvest:custom_fields:create", read=False)
ENDPOINTS[("PATCH", "custom_fields", True)] = Endpoint("harvest:custom_fields:update", read=False)
ENDPOINTS[("POST", "notes", False)] = Endpoint("harvest:notes:create", read=False)

ALL_SCOPES = frozenset(endpoint.scope for endpoint in ENDPOINTS.values())


def _unauthorized(problem: str | None) -> JSONResponse:
    body: dict[str, Any] = {"message": "Unauthorized"}
    if problem:
        body["errors"] = [problem]
    return JSONResponse(body, status_code=401)


def _find_token(state: FakeState, request: Request) -> tuple[IssuedToken | None, str | None]:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value:
        return None, None
    with state.lock:
        token = state.tokens.get(value.strip())
        if token is None:
            return None, "Invalid access token."
        problem = token.problem(time.time())
    return (None, problem) if problem else (token, None)


async def v3_endpoint(request: Request) -> Response:
    """Serve ``/v3/{resource}`` and ``/v3/{resource}/{record_id}``."""
    state: FakeState = request.app.state.fake
    token, problem = _find_token(state, request)
    decision = state.count_request(token.client_id if token else ANONYMOUS_RATE_KEY)
    response = await _respond(state, request, token, problem, decision.allowed)
    response.headers.update(decision.headers())
    return response


async def _respond(
    state: FakeState,
    request: Request,
    token: IssuedToken | None,
    problem: str | None,
    allowed: bool,
) -> Response:
    if token is None:
        return _unauthorized(problem)
    if not allowed:
        return JSONResponse({"message": "Too Many Requests"}, status_code=429)
    injected = await apply_fault(state, request)
    if injected is not None:
        return injected

    resource = request.path_params["resource"]
    record_id: int | None = request.path_params.get("record_id")
    endpoint = ENDPOINTS.get((request.method, resource, record_id is not None))
    if endpoint is None:
        return JSONResponse({"message": "Not Found"}, status_code=404)
    with state.lock:
        scopes = set(state.clients[token.client_id].scopes)
    if endpoint.scope not in scopes:
        return JSONResponse(
            {"message": "Forbidden", "errors": [f"Missing required scope: {endpoint.scope}"]},
            status_code=403,
        )
    if endpoint.read and not state.acting_user_is_admin(token):
        return JSONResponse(
            {"message": "Forbidden", "errors": ["The acting user must be a Site Admin."]},
            status_code=403,
        )
    if endpoint.read:
        return _list(state, request, resource)
    return await _write(state, request, token, resource, record_id)


def _list(state: FakeState, request: Request, resource: str) -> Response:
    with state.lock:
        try:
            query = parse_query(
                resource, request.query_params.multi_items(), strict=state.config.strict_filters
            )
        except QueryError as exc:
            return JSONResponse({"errors": [str(exc)]}, status_code=422)
        page, cursor = select_page(state.records[resource].values(), query)
        view = state.candidate_view if resource == "candidates" else public_view
        body = [project(view(record), query.fields) for record in page]
    headers = {}
    if cursor is not None:
        headers["Link"] = f'<{request.base_url}v3/{resource}?cursor={cursor}>; rel="next"'
    return JSONResponse(body, headers=headers)


async def _write(
    state: FakeState, request: Request, token: IssuedToken, resource: str, record_id: int | None
) -> Response:
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse(
            WriteError("the request body must be valid JSON").body(), status_code=422
        )
    try:
        if resource == "candidates" and record_id is not None:
            return JSONResponse(writes.update_candidate(state, record_id, body))
        if resource == "custom_fields" and record_id is not None:
            return JSONResponse(writes.update_custom_field(state, record_id, body))
        if resource == "custom_fields":
            return JSONResponse(writes.create_custom_field(state, body), status_code=201)
        return JSONResponse(writes.create_note(state, body, author_id=token.sub), status_code=201)
    except RecordNotFound:
        return JSONResponse(
            {"message": f"{resource[:-1].replace('_', ' ').capitalize()} not found"},
            status_code=404,
        )
    except WriteError as exc:
        return JSONResponse(exc.body(), status_code=422)
