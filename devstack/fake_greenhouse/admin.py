"""The admin API under ``/admin``: seed and inspect the fake, flip its switches, inject faults.

JSON in and out. Mistakes in a request (unknown field, wrong type, unknown id) return 400 or 404
with ``{"error": ...}``. The endpoints:

    POST   /admin/reset                      {"seed": "empty"|"demo"}
    GET    /admin/config   PATCH /admin/config    token TTL, revoke-on-new-token, rate limit...
    PATCH  /admin/organization               {"id", "name"}
    GET    /admin/clients  POST /admin/clients    {"client_id", "client_secret", "scopes"}
    PUT    /admin/clients/{client_id}/scopes {"scopes": [...] | "all"}
    POST   /admin/tokens/revoke              revoke every token issued so far
    GET    /admin/faults   POST /admin/faults   DELETE /admin/faults
    GET    /admin/requests DELETE /admin/requests  request counts per (method, path)
    POST   /admin/webhooks                   {"url", "action", "payload", "secret"}
    GET    /admin/webhooks/{delivery_id}
    GET    /admin/candidates/{id}/custom_fields   GET /admin/candidates/{id}/notes
    PUT    /admin/interviews/{id}/interviewers    {"interviewers": [{"user_id"}|{"email"}]}
    GET    /admin/{resource}               POST /admin/{resource}
    PATCH  /admin/{resource}/{id}          DELETE /admin/{resource}/{id}

Creating a candidate takes ``custom_fields`` as PATCH /v3/candidates does; creating an interview
takes its panel as ``interviewers``; creating a custom field takes ``custom_field_options``.
Updating an interview or its panel bumps the interview's ``updated_at``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devstack.fake_greenhouse import writes
from devstack.fake_greenhouse.api import ALL_SCOPES
from devstack.fake_greenhouse.custom_fields import WriteError
from devstack.fake_greenhouse.faults import Fault
from devstack.fake_greenhouse.records import RESOURCES, public_view
from devstack.fake_greenhouse.seed import apply_seed
from devstack.fake_greenhouse.state import FakeState, RecordNotFound

Handler = Callable[[Request], Awaitable[Response]]


def _guarded(handler: Handler) -> Handler:
    """Turn the fake's own errors into 400 and 404 responses."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except RecordNotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except WriteError as exc:
            return JSONResponse({"error": exc.message, "field": exc.field}, status_code=400)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return run


def _state(request: Request) -> FakeState:
    state: FakeState = request.app.state.fake
    return state


async def _object(request: Request) -> dict[str, Any]:
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    return body


def _resource(request: Request) -> str:
    resource: str = request.path_params["resource"]
    if resource not in RESOURCES:
        raise RecordNotFound(f"unknown resource {resource!r}; known: {', '.join(RESOURCES)}")
    return resource


def resolve_scopes(value: Any) -> set[str]:
    """Accept ``"all"``, a comma-separated string or a list of scope names."""
    if value == "all":
        return set(ALL_SCOPES)
    if isinstance(value, str):
        return {scope.strip() for scope in value.split(",") if scope.strip()}
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError('scopes must be "all" or a list of scope names')
    return set(value)


async def reset(request: Request) -> Response:
    state = _state(request)
    body = await _object(request) if await request.body() else {}
    with state.lock:
        state.reset()
        apply_seed(state, body.get("seed", "empty"))
        counts = {name: len(records) for name, records in state.records.items()}
    return JSONResponse({"records": counts})


async def config(request: Request) -> Response:
    state = _state(request)
    with state.lock:
        if request.method == "PATCH":
            state.config.update(await _object(request))
        return JSONResponse(state.config.to_json())


async def organization(request: Request) -> Response:
    state = _state(request)
    body = await _object(request)
    unknown = set(body) - {"id", "name"}
    if unknown:
        raise ValueError(f"unknown organization keys: {', '.join(sorted(unknown))}")
    with state.lock:
        state.organization.update(body)
        return JSONResponse(state.organization)


async def clients(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        body = await _object(request)
        state.add_client(
            str(body["client_id"]),
            str(body["client_secret"]),
            resolve_scopes(body.get("scopes", "all")),
            service_user_role=str(body.get("service_user_role", "site_admin")),
        )
    with state.lock:
        listed = [
            {
                "client_id": client.client_id,
                "scopes": sorted(client.scopes),
                "service_user_role": client.service_user_role,
            }
            for client in state.clients.values()
        ]
    return JSONResponse(listed, status_code=201 if request.method == "POST" else 200)


async def client_scopes(request: Request) -> Response:
    state = _state(request)
    body = await _object(request)
    with state.lock:
        client = state.clients.get(request.path_params["client_id"])
        if client is None:
            raise RecordNotFound(f"client {request.path_params['client_id']!r} does not exist")
        client.scopes = resolve_scopes(body.get("scopes"))
        return JSONResponse({"client_id": client.client_id, "scopes": sorted(client.scopes)})


async def revoke_tokens(request: Request) -> Response:
    return JSONResponse({"revoked": _state(request).revoke_all_tokens()})


async def faults(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        fault = Fault.from_json(await _object(request))
        with state.lock:
            state.faults.add(fault)
    elif request.method == "DELETE":
        with state.lock:
            state.faults.clear()
    with state.lock:
        pending = [fault.to_json() for fault in state.faults.pending]
    return JSONResponse(pending)


async def requests_log(request: Request) -> Response:
    state = _state(request)
    with state.lock:
        if request.method == "DELETE":
            state.request_counts.clear()
            state.status_counts.clear()
            state.token_requests = 0
        counts = [
            {"method": method, "path": path, "count": count}
            for (method, path), count in sorted(state.request_counts.items())
        ]
        return JSONResponse(
            {
                "total": sum(state.request_counts.values()),
                "tokens_issued": state.token_requests,
                "counts": counts,
                "statuses": {str(status): n for status, n in sorted(state.status_counts.items())},
            }
        )


async def send_webhook(request: Request) -> Response:
    body = await _object(request)
    missing = [key for key in ("url", "action", "payload", "secret") if key not in body]
    if missing:
        raise ValueError(f"missing webhook keys: {', '.join(missing)}")
    delivery = request.app.state.webhooks.send(
        str(body["url"]),
        str(body["action"]),
        body["payload"],
        str(body["secret"]),
        event_id=body.get("event_id"),
        base_delay_seconds=body.get("base_delay_seconds"),
    )
    with _state(request).lock:
        return JSONResponse(dict(delivery), status_code=202)


async def webhook_delivery(request: Request) -> Response:
    state = _state(request)
    with state.lock:
        delivery = state.deliveries.get(request.path_params["delivery_id"])
        if delivery is None:
            raise RecordNotFound(f"delivery {request.path_params['delivery_id']!r} does not exist")
        return JSONResponse({**delivery, "attempts": list(delivery["attempts"])})


async def candidate_custom_fields(request: Request) -> Response:
    state = _state(request)
    with state.lock:
        candidate = state.get("candidates", request.path_params["record_id"])
        return JSONResponse(state.candidate_view(candidate)["custom_fields"])


async def candidate_notes(request: Request) -> Response:
    state = _state(request)
    with state.lock:
        candidate_id = state.get("candidates", request.path_params["record_id"])["id"]
        notes = [
            public_view(note)
            for note in state.records["notes"].values()
            if note["candidate_id"] == candidate_id
        ]
    return JSONResponse(sorted(notes, key=lambda note: note["id"]))


async def interview_panel(request: Request) -> Response:
    state = _state(request)
    body = await _object(request)
    rows = state.set_panel(request.path_params["record_id"], list(body.get("interviewers", [])))
    with state.lock:
        return JSONResponse([public_view(row) for row in rows])


def _view(state: FakeState, resource: str, record: dict[str, Any]) -> dict[str, Any]:
    if resource == "candidates":
        return state.candidate_view(record)
    if resource == "custom_fields":
        return state.custom_field_view(record)
    return public_view(record)


def create_record(state: FakeState, resource: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create a record the way the admin API does, children included; returns its view."""
    with state.lock:
        if resource == "custom_fields":
            return writes.create_custom_field(state, body)
        fields = dict(body)
        custom = fields.pop("custom_fields", None) if resource == "candidates" else None
        panel = fields.pop("interviewers", None) if resource == "interviews" else None
        if custom is not None:
            values = writes.check_custom_field_entries(state, custom)
        record = state.insert(resource, fields)
        if custom is not None:
            state.custom_values[record["id"]] = values
        if panel is not None:
            state.set_panel(record["id"], panel)
            record["updated_at"] = record["created_at"]
        return _view(state, resource, record)


async def collection(request: Request) -> Response:
    state = _state(request)
    resource = _resource(request)
    if request.method == "POST":
        record = create_record(state, resource, await _object(request))
        return JSONResponse(record, status_code=201)
    with state.lock:
        records = [_view(state, resource, record) for record in state.records[resource].values()]
    return JSONResponse(sorted(records, key=lambda record: record["id"], reverse=True))


async def item(request: Request) -> Response:
    state = _state(request)
    resource = _resource(request)
    record_id = request.path_params["record_id"]
    if request.method == "DELETE":
        state.delete(resource, record_id)
        return Response(status_code=204)
    body = await _object(request)
    with state.lock:
        if resource == "candidates":
            return JSONResponse(writes.update_candidate(state, record_id, body))
        if resource == "custom_fields":
            return JSONResponse(writes.update_custom_field(state, record_id, body))
        record = state.update(resource, record_id, body)
        return JSONResponse(_view(state, resource, record))


ROUTES = [
    Route("/admin/reset", _guarded(reset), methods=["POST"]),
    Route("/admin/config", _guarded(config), methods=["GET", "PATCH"]),
    Route("/admin/organization", _guarded(organization), methods=["PATCH"]),
    Route("/admin/clients", _guarded(clients), methods=["GET", "POST"]),
    Route("/admin/clients/{client_id}/scopes", _guarded(client_scopes), methods=["PUT"]),
    Route("/admin/tokens/revoke", _guarded(revoke_tokens), methods=["POST"]),
    Route("/admin/faults", _guarded(faults), methods=["GET", "POST", "DELETE"]),
    Route("/admin/requests", _guarded(requests_log), methods=["GET", "DELETE"]),
    Route("/admin/webhooks", _guarded(send_webhook), methods=["POST"]),
    Route("/admin/webhooks/{delivery_id}", _guarded(webhook_delivery), methods=["GET"]),
    Route(
        "/admin/candidates/{record_id:int}/custom_fields",
        _guarded(candidate_custom_fields),
        methods=["GET"],
    ),
    Route("/admin/candidates/{record_id:int}/notes", _guarded(candidate_notes), methods=["GET"]),
    Route(
        "/admin/interviews/{record_id:int}/interviewers",
        _guarded(interview_panel),
        methods=["PUT"],
    ),
    Route("/admin/{resource}", _guarded(collection), methods=["GET", "POST"]),
    Route("/admin/{resource}/{record_id:int}", _guarded(item), methods=["PATCH", "DELETE"]),
]
