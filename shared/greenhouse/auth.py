"""OAuth 2.0 client credentials for Harvest V3: minting, caching and introspecting tokens.

``POST <token URL>`` with HTTP Basic ``client_id:client_secret`` and the form
``grant_type=client_credentials`` (plus ``sub``, the acting user's id, when configured) returns
``{"access_token", "token_type", "expires_at"}``. Some deployments may send ``expires_in``
instead; without either the token is assumed to last one hour, Greenhouse's documented lifetime.

A new client-credentials token may revoke the previous one, so one ``TokenManager`` per process
mints at a time and every caller shares its token. Token values never reach a repr, a log line
or an exception message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shared.errors import GreenhouseAuthError, GreenhouseError, GreenhouseUnavailableError
from shared.events import parse_timestamp
from shared.greenhouse.metrics import HARVEST_REQUEST_SECONDS, HARVEST_REQUESTS
from shared.greenhouse.responses import error_for_response
from shared.logging import get_logger
from shared.settings import GreenhouseSettings

log = get_logger(__name__)

DEFAULT_LIFETIME_SECONDS = 3600.0
# Refresh this long before expiry so a request never leaves with a token about to lapse.
EXPIRY_MARGIN_SECONDS = 60.0
CLAIMS_KEY = "https://auth.greenhouse.io/claims"


@dataclass(frozen=True)
class Token:
    """An access token with its expiry; ``scopes`` is None unless the token response listed them."""

    access_token: str = field(repr=False)
    expires_at: datetime
    # Monotonic time after which the token is refreshed before use.
    refresh_after: float = field(repr=False)
    scopes: frozenset[str] | None = None

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value."""
        return f"Bearer {self.access_token}"

    def is_fresh(self, now: float) -> bool:
        """Return whether the token may still be sent at monotonic time ``now``."""
        return now < self.refresh_after


@dataclass(frozen=True)
class Introspection:
    """The state, scopes and organization the introspection endpoint reports for a token."""

    active: bool
    scopes: frozenset[str] = frozenset()
    client_id: str | None = None
    sub: str | None = None
    organization_id: int | None = None
    organization_name: str | None = None
    user_role: str | None = None

    @classmethod
    def from_response(cls, body: Mapping[str, Any]) -> Introspection:
        """Parse an RFC 7662 response with Greenhouse's namespaced claims object."""
        claims = body.get(CLAIMS_KEY)
        claims = claims if isinstance(claims, dict) else {}
        organization = claims.get("organization")
        organization = organization if isinstance(organization, dict) else {}
        org_id = organization.get("id")
        sub = body.get("sub")
        return cls(
            active=body.get("active") is True,
            scopes=parse_scopes(body.get("scope")) or frozenset(),
            client_id=body.get("client_id") if isinstance(body.get("client_id"), str) else None,
            sub=str(sub) if sub is not None else None,
            organization_id=org_id if isinstance(org_id, int) else None,
            organization_name=organization.get("name")
            if isinstance(organization.get("name"), str)
            else None,
            user_role=claims.get("user_role") if isinstance(claims.get("user_role"), str) else None,
        )


def parse_scopes(value: object) -> frozenset[str] | None:
    """Parse a space-separated ``scope`` value (a list is accepted too); None when absent."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(str(item) for item in value)
    return None


def token_from_response(body: Mapping[str, Any], *, now: float, wall_now: datetime) -> Token:
    """Build a Token from a token response, raising GreenhouseAuthError if it has no token."""
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise GreenhouseAuthError("the token endpoint returned 200 without an access_token")
    token_type = body.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise GreenhouseAuthError(
            f"the token endpoint issued an unsupported token_type {token_type!r}"
        )

    expires_at = parse_timestamp(body.get("expires_at"))
    expires_in = body.get("expires_in")
    if (
        expires_at is None
        and isinstance(expires_in, int | float)
        and not isinstance(expires_in, bool)
    ):
        expires_at = wall_now + timedelta(seconds=float(expires_in))
    if expires_at is None:
        expires_at = wall_now + timedelta(seconds=DEFAULT_LIFETIME_SECONDS)

    lifetime = max(0.0, (expires_at - wall_now).total_seconds())
    # Short-lived tokens (as in tests) would be refreshed at once with the full margin.
    margin = min(EXPIRY_MARGIN_SECONDS, lifetime / 2)
    return Token(
        access_token=access_token,
        expires_at=expires_at,
        refresh_after=now + lifetime - margin,
        scopes=parse_scopes(body.get("scope")),
    )


class TokenManager:
    """Mints and caches one access token per process, one mint at a time."""

    def __init__(self, settings: GreenhouseSettings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        self.mint_count = 0

    def __repr__(self) -> str:
        return f"TokenManager(token_url={self._settings.greenhouse_token_url!r})"

    async def token(self) -> Token:
        """Return the cached token, minting a new one when it is missing or about to expire."""
        current = self._token
        if current is not None and current.is_fresh(time.monotonic()):
            return current
        async with self._lock:
            # Another caller may have minted while this one waited for the lock.
            current = self._token
            if current is not None and current.is_fresh(time.monotonic()):
                return current
            self._token = await self._mint()
            return self._token

    async def replace_rejected(self, rejected: Token) -> Token:
        """Mint a new token after Harvest rejected the token ``rejected`` with 401.

        When several requests were rejected with the same token, only the first mints; the
        others receive the token it obtained.
        """
        async with self._lock:
            if self._token is not None and self._token is not rejected:
                return self._token
            self._token = await self._mint()
            return self._token

    def forget(self) -> None:
        """Drop the cached token so the next call mints a new one."""
        self._token = None

    async def introspect(self, token: Token) -> Introspection:
        """Ask the introspection endpoint what ``token`` grants."""
        response = await self._post_form(
            self._settings.greenhouse_introspect_url,
            {"token": token.access_token, "token_type_hint": "access_token"},
            endpoint="POST /introspect",
        )
        if response.status_code != 200:
            raise error_for_response(response)
        body = _json_object(response, "introspection")
        return Introspection.from_response(body)

    async def _mint(self) -> Token:
        form = {"grant_type": "client_credentials"}
        if self._settings.greenhouse_acting_user_id is not None:
            form["sub"] = str(self._settings.greenhouse_acting_user_id)
        response = await self._post_form(
            self._settings.greenhouse_token_url, form, endpoint="POST /token"
        )
        if response.status_code in (400, 401):
            raise _credentials_error(response)
        if response.status_code == 429 or response.status_code >= 500:
            raise GreenhouseUnavailableError(
                f"the token endpoint failed ({response.status_code}); retrying may succeed",
                method="POST",
                path=response.request.url.path,
                status=response.status_code,
            )
        if response.status_code != 200:
            raise GreenhouseAuthError(
                f"the token endpoint returned {response.status_code}, expected 200",
                method="POST",
                path=response.request.url.path,
                status=response.status_code,
            )
        token = token_from_response(
            _json_object(response, "token"), now=time.monotonic(), wall_now=datetime.now(UTC)
        )
        self.mint_count += 1
        log.info("harvest_token_minted", expires_at=token.expires_at.isoformat())
        return token

    async def _post_form(self, url: str, form: dict[str, str], *, endpoint: str) -> httpx.Response:
        client_id, secret = self._settings.require_credentials()
        started = time.perf_counter()
        try:
            response = await self._http.post(
                url, data=form, auth=httpx.BasicAuth(client_id, secret.get_secret_value())
            )
        except httpx.TransportError as exc:
            HARVEST_REQUESTS.labels(endpoint=endpoint, status="error").inc()
            raise GreenhouseUnavailableError(
                f"{_endpoint_name(endpoint)} at {_origin(url)} is unreachable "
                f"({type(exc).__name__})",
                method="POST",
                path=httpx.URL(url).path,
            ) from exc
        HARVEST_REQUESTS.labels(endpoint=endpoint, status=str(response.status_code)).inc()
        HARVEST_REQUEST_SECONDS.labels(endpoint=endpoint).observe(time.perf_counter() - started)
        return response


def _credentials_error(response: httpx.Response) -> GreenhouseAuthError:
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = None
    code = body.get("error") if isinstance(body, dict) else None
    code = code if isinstance(code, str) else None
    if code in (None, "invalid_client"):
        reason = "invalid client id or secret"
    elif code == "unauthorized_client":
        reason = "this client may not use the client-credentials grant"
    elif code == "invalid_request" and "sub" in str(body.get("error_description", "")):
        reason = "GREENHOUSE_ACTING_USER_ID does not name a Greenhouse user"
    else:
        reason = "the token request was rejected"
    suffix = f" ({code})" if code else ""
    return GreenhouseAuthError(
        f"{reason}{suffix}: the token endpoint returned {response.status_code}",
        error_code=code,
        method="POST",
        path=response.request.url.path,
        status=response.status_code,
    )


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise GreenhouseError(
            f"the {what} response is not a JSON object",
            method=response.request.method,
            path=response.request.url.path,
            status=response.status_code,
        )
    return body


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}{parsed.path}"


def _endpoint_name(endpoint: str) -> str:
    return "the token endpoint" if endpoint.endswith("/token") else "the introspection endpoint"
