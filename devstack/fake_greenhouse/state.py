"""The fake Greenhouse's state: configuration, OAuth clients and tokens, records, rate windows.

The server runs in its own thread (or process) and tests read and change the same
``FakeState`` from theirs, so every access goes through ``state.lock``. Methods take the lock
themselves; callers that need several steps to be atomic hold it around them (it is re-entrant).
"""

from __future__ import annotations

import base64
import copy
import math
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from devstack.fake_greenhouse.custom_fields import render_value
from devstack.fake_greenhouse.faults import FaultBook
from devstack.fake_greenhouse.records import DEFAULTS, ID_BASES, RESOURCES, public_view


def iso_now() -> str:
    """Return the current time as Harvest writes timestamps: ISO-8601 UTC with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RecordNotFound(KeyError):
    """Raised when a record id names nothing; the endpoints return 404."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "record not found"


@dataclass
class FakeConfig:
    """Switches an admin or a test may flip; every one is settable through ``/admin/config``."""

    token_ttl_seconds: float = 3600.0
    # Observed in a public client, not documented: a new client-credentials token revokes
    # the previous one for the same client.
    revoke_on_new_token: bool = False
    emit_expires_in: bool = False
    token_response_scope: bool = False
    introspection_enabled: bool = True
    rate_limit: int = 75
    rate_window_seconds: float = 30.0
    # 422 for query parameters an endpoint does not document.
    strict_filters: bool = True
    # Greenhouse waits 1, 15, 60, 120, 240 and 480 minutes between webhook attempts; the fake
    # waits that many times this value instead.
    webhook_base_delay_seconds: float = 1.0

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``changes``, raising ValueError on an unknown key or a wrongly typed value."""
        for name, value in changes.items():
            if name not in self.__dataclass_fields__:
                raise ValueError(f"unknown config key {name!r}")
            expected = type(getattr(self, name))
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ValueError(f"config key {name!r} expects {expected.__name__}")
        for name, value in changes.items():
            setattr(self, name, type(getattr(self, name))(value))

    def to_json(self) -> dict[str, Any]:
        """Return the configuration as the admin API shows it."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class OAuthClient:
    """A Harvest V3 credential: client id, secret and granted scopes."""

    client_id: str
    client_secret: str = field(repr=False)
    scopes: set[str] = field(default_factory=set)
    # Role of the credential's service user, the acting user when a token has no ``sub``.
    service_user_role: str = "site_admin"


@dataclass
class IssuedToken:
    """An access token the fake handed out."""

    value: str = field(repr=False)
    client_id: str
    sub: int | None
    issued_at: float
    expires_at: float
    revoked: bool = False

    def problem(self, now: float) -> str | None:
        """Why the token is no longer accepted, or None while it is."""
        if self.revoked:
            return "Token has already been refreshed or revoked. Please generate a new token."
        if now >= self.expires_at:
            return "Token has expired. Please generate a new token."
        return None


@dataclass(frozen=True)
class RateDecision:
    """The outcome of counting one request against its credential's window."""

    allowed: bool
    limit: int
    remaining: int
    reset: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        """Return the ``X-RateLimit-*`` headers, plus ``Retry-After`` when refused."""
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class FakeState:
    """The fake's whole state; see the module docstring for the locking rule."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.config = FakeConfig()
        self.clients: dict[str, OAuthClient] = {}
        self.faults = FaultBook()
        self.reset()

    def reset(self) -> None:
        """Forget every record, token, count and fault; keep clients and configuration."""
        with self.lock:
            self.organization: dict[str, Any] = {"id": 4_000_001, "name": "Example Org (fake)"}
            self.tokens: dict[str, IssuedToken] = {}
            self.records: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in RESOURCES}
            # candidate id -> name_key -> stored value (option ids for selects)
            self.custom_values: dict[int, dict[str, Any]] = {}
            self._next_ids = dict(ID_BASES)
            self.request_counts: Counter[tuple[str, str]] = Counter()
            self.status_counts: Counter[int] = Counter()
            self.token_requests = 0
            self._rate_windows: dict[str, tuple[float, int]] = {}
            # delivery id -> the delivery's JSON view, kept up to date by the webhook sender
            self.deliveries: dict[str, dict[str, Any]] = {}
            self.faults.clear()

    # OAuth clients and tokens

    def add_client(
        self,
        client_id: str,
        client_secret: str,
        scopes: set[str] | frozenset[str],
        *,
        service_user_role: str = "site_admin",
    ) -> OAuthClient:
        """Create or replace a credential."""
        with self.lock:
            client = OAuthClient(client_id, client_secret, set(scopes), service_user_role)
            self.clients[client_id] = client
            return client

    def issue_token(self, client: OAuthClient, sub: int | None) -> IssuedToken:
        """Mint a token, revoking the client's older ones when configured to."""
        with self.lock:
            now = time.time()
            if self.config.revoke_on_new_token:
                for token in self.tokens.values():
                    if token.client_id == client.client_id:
                        token.revoked = True
            token = IssuedToken(
                value=_fake_jwt(client.client_id, sub, now, self.config.token_ttl_seconds),
                client_id=client.client_id,
                sub=sub,
                issued_at=now,
                expires_at=now + self.config.token_ttl_seconds,
            )
            self.tokens[token.value] = token
            self.token_requests += 1
            return token

    def revoke_all_tokens(self) -> int:
        """Revoke every token issued so far and return how many were still valid."""
        with self.lock:
            now = time.time()
            live = [token for token in self.tokens.values() if token.problem(now) is None]
            for token in live:
                token.revoked = True
            return len(live)

    def acting_user_is_admin(self, token: IssuedToken) -> bool:
        """Return whether the token's acting user (``sub`` or the service user) is a Site Admin."""
        with self.lock:
            if token.sub is None:
                return self.clients[token.client_id].service_user_role == "site_admin"
            user = self.records["users"].get(token.sub)
            return bool(user and user["site_admin"] and not user["deactivated"])

    def user_role(self, token: IssuedToken) -> str:
        """Return the ``user_role`` claim that introspection reports for the token."""
        if token.sub is None:
            return self.clients[token.client_id].service_user_role
        return "site_admin" if self.acting_user_is_admin(token) else "basic"

    # Rate limiting

    def count_request(self, key: str) -> RateDecision:
        """Count one request in ``key``'s fixed window and decide whether it is allowed.

        Windows are aligned to multiples of the window length since the epoch, so their
        boundaries fall on whole seconds as ``X-RateLimit-Reset`` expresses them.
        """
        with self.lock:
            now = time.time()
            length = self.config.rate_window_seconds
            start = math.floor(now / length) * length
            window_start, used = self._rate_windows.get(key, (start, 0))
            if window_start != start:
                used = 0
            reset = start + length
            limit = self.config.rate_limit
            allowed = used < limit
            if allowed:
                used += 1
            self._rate_windows[key] = (start, used)
            return RateDecision(
                allowed=allowed,
                limit=limit,
                remaining=max(0, limit - used),
                reset=math.ceil(reset),
                retry_after=max(1, math.ceil(reset - now)),
            )

    # Records

    def insert(self, resource: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Add a record with defaults for the missing fields and return it."""
        with self.lock:
            _check_fields(resource, fields, allow_id=True)
            record_id = fields.get("id")
            if record_id is None:
                self._next_ids[resource] += 1
                record_id = self._next_ids[resource]
            elif not isinstance(record_id, int) or record_id in self.records[resource]:
                raise ValueError(f"{resource} id {record_id!r} is not a new integer id")
            else:
                self._next_ids[resource] = max(self._next_ids[resource], record_id)
            now = iso_now()
            record = {"id": record_id, **copy.deepcopy(DEFAULTS[resource])}
            record.update(copy.deepcopy({k: v for k, v in fields.items() if k != "id"}))
            record.setdefault("created_at", now)
            record.setdefault("updated_at", record["created_at"])
            if resource == "users":
                record["name"] = record["name"] or f"{record['first_name']} {record['last_name']}"
                record["emails"] = record["emails"] or [record["primary_email"]]
            self.records[resource][record_id] = record
            return record

    def update(self, resource: str, record_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        """Change a record's fields, bump its ``updated_at`` and return it."""
        with self.lock:
            _check_fields(resource, fields, allow_id=False)
            record = self.get(resource, record_id)
            record.update(copy.deepcopy(fields))
            if "updated_at" not in fields:
                record["updated_at"] = iso_now()
            return record

    def delete(self, resource: str, record_id: int) -> None:
        """Remove a record; deleting an interview removes its panel too."""
        with self.lock:
            self.get(resource, record_id)
            del self.records[resource][record_id]
            if resource == "interviews":
                for row in self.panel(record_id):
                    del self.records["interviewers"][row["id"]]

    def get(self, resource: str, record_id: int) -> dict[str, Any]:
        """Return the stored record, raising KeyError naming it when absent."""
        with self.lock:
            if resource not in self.records:
                raise RecordNotFound(f"unknown resource {resource!r}")
            record = self.records[resource].get(record_id)
            if record is None:
                raise RecordNotFound(f"{resource} {record_id} does not exist")
            return record

    def panel(self, interview_id: int) -> list[dict[str, Any]]:
        """Return the interviewer rows of an interview."""
        with self.lock:
            return [
                row
                for row in self.records["interviewers"].values()
                if row["interview_id"] == interview_id
            ]

    def set_panel(self, interview_id: int, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace an interview's panel and bump the interview's ``updated_at``.

        Each member is ``{"user_id": ...}`` or ``{"email": ...}`` with an optional
        ``response_status``; a user's email is filled in from the user.
        """
        with self.lock:
            interview = self.get("interviews", interview_id)
            for row in self.panel(interview_id):
                del self.records["interviewers"][row["id"]]
            rows = []
            for member in members:
                fields = dict(member)
                user_id = fields.get("user_id")
                if user_id is not None:
                    fields.setdefault("email", self.get("users", user_id)["primary_email"])
                elif not fields.get("email"):
                    raise ValueError("each panel member needs a user_id or an email")
                rows.append(self.insert("interviewers", {**fields, "interview_id": interview_id}))
            interview["updated_at"] = iso_now()
            return rows

    def options_of(self, field_id: int, *, active_only: bool = True) -> dict[int, dict[str, Any]]:
        """Return the options of a custom field by id."""
        with self.lock:
            return {
                option["id"]: option
                for option in self.records["custom_field_options"].values()
                if option["custom_field_id"] == field_id and (option["active"] or not active_only)
            }

    def candidate_fields(self) -> dict[str, dict[str, Any]]:
        """Return the candidate custom field definitions by ``name_key``."""
        with self.lock:
            return {
                definition["name_key"]: definition
                for definition in self.records["custom_fields"].values()
                if definition["field_type"] == "candidate"
            }

    def candidate_view(self, candidate: dict[str, Any]) -> dict[str, Any]:
        """Return a candidate as ``GET /v3/candidates`` shows it, custom field values included."""
        with self.lock:
            values = self.custom_values.get(candidate["id"], {})
            custom = {
                key: render_value(
                    definition,
                    self.options_of(definition["id"], active_only=False),
                    values.get(key),
                )
                for key, definition in self.candidate_fields().items()
            }
            return {**public_view(candidate), "custom_fields": custom}

    def custom_field_view(self, definition: dict[str, Any]) -> dict[str, Any]:
        """Return a custom field with its options, as the write endpoints return it."""
        with self.lock:
            options = sorted(
                self.options_of(definition["id"], active_only=False).values(),
                key=lambda option: (option["sort_order"], option["id"]),
            )
            return {
                **public_view(definition),
                "custom_field_options": [public_view(option) for option in options],
            }


def _check_fields(resource: str, fields: dict[str, Any], *, allow_id: bool) -> None:
    if resource not in DEFAULTS:
        raise KeyError(f"unknown resource {resource!r}")
    allowed = set(DEFAULTS[resource]) | {"created_at", "updated_at"}
    if allow_id:
        allowed.add("id")
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown {resource} fields: {', '.join(sorted(unknown))}")


def _b64(document: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(document)).rstrip(b"=").decode("ascii")


def _fake_jwt(client_id: str, sub: int | None, now: float, ttl: float) -> str:
    """Build a token shaped like a JWT (three base64url parts) with a random signature."""
    header = _b64({"alg": "HS256", "typ": "JWT"})
    claims = _b64(
        {
            "iss": "fake-greenhouse",
            "client_id": client_id,
            "sub": str(sub) if sub is not None else None,
            "iat": int(now),
            "exp": int(now + ttl),
            "jti": secrets.token_hex(8),
        }
    )
    return f"{header}.{claims}.{secrets.token_urlsafe(32)}"
