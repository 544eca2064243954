"""Translation of Harvest V3 error responses into the typed errors of ``shared.errors``.

Greenhouse reports 422 problems as ``{"errors": [...]}`` whose items are either plain strings
(the cursor rule) or ``{"message": ..., "field": ...}`` objects (the v1 shape that write
endpoints may still use), sometimes next to a top-level ``message``. Both are accepted.
Messages carry the method, the path without its query (which may hold an email address) and
the status; never a token or a body.
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from shared.errors import (
    GreenhouseAuthError,
    GreenhouseError,
    GreenhouseForbiddenError,
    GreenhouseNotFoundError,
    GreenhouseRateLimitedError,
    GreenhouseRequestError,
    GreenhouseUnavailableError,
    GreenhouseValidationError,
)

_ACTION_BY_METHOD = {"GET": "list", "POST": "create", "PATCH": "update", "DELETE": "destroy"}


def required_scope(method: str, path: str) -> str | None:
    """Return the scope Greenhouse checks for ``method path``, e.g. ``harvest:notes:create``."""
    segments = [segment for segment in path.split("/") if segment]
    if "v3" in segments:
        segments = segments[segments.index("v3") + 1 :]
    action = _ACTION_BY_METHOD.get(method.upper())
    if not segments or action is None:
        return None
    return f"harvest:{segments[0]}:{action}"


def error_messages(body: Any) -> list[str]:
    """Extract Greenhouse's error messages from a decoded error body, field first when named."""
    if not isinstance(body, dict):
        return []
    messages: list[str] = []
    for item in body.get("errors") or []:
        if isinstance(item, str):
            messages.append(item)
        elif isinstance(item, dict):
            text = str(item.get("message", "")).strip() or "invalid"
            field = item.get("field")
            messages.append(f"{field}: {text}" if field else text)
    if not messages and isinstance(body.get("message"), str):
        messages.append(body["message"])
    return messages


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """Return the ``Retry-After`` delay in seconds, or None when absent or not a number."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def decode_json(response: httpx.Response) -> Any:
    """Return the decoded JSON body, or None when the body is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def error_for_response(response: httpx.Response) -> GreenhouseError:
    """Build the typed error for a Harvest response that is not a success.

    401 is handled by the caller (re-mint once, retry once) and only reaches here when the
    fresh token was refused too.
    """
    method = response.request.method
    path = response.request.url.path
    status = response.status_code
    messages = error_messages(decode_json(response))
    detail = "; ".join(messages)
    where = f"{method} {path}"
    context: dict[str, Any] = {"method": method, "path": path, "status": status}

    if status == 401:
        return GreenhouseAuthError(
            f"Harvest rejected a freshly minted token on {where} (401): {detail or 'Unauthorized'}",
            **context,
        )
    if status == 403:
        scope = required_scope(method, path)
        return GreenhouseForbiddenError(
            f"Harvest rejected {where} (403): the credential lacks the scope {scope} or the "
            "acting user (GREENHOUSE_ACTING_USER_ID or the credential's service user) is not "
            "a Site Admin; grant the scope under Dev Center > API Credential Management",
            **context,
        )
    if status == 404:
        return GreenhouseNotFoundError(f"Harvest found nothing at {where} (404)", **context)
    if status == 422:
        return GreenhouseValidationError(
            f"Harvest rejected {where} as invalid (422): {detail or 'no details given'}",
            errors=messages,
            **context,
        )
    if status == 429:
        return GreenhouseRateLimitedError(
            f"Harvest rate limit exceeded on {where} (429)", **context
        )
    if status >= 500:
        return GreenhouseUnavailableError(
            f"Harvest failed on {where} ({status}); retrying may succeed", **context
        )
    return GreenhouseRequestError(
        f"Harvest rejected {where} ({status}): {detail or 'no details given'}", **context
    )
