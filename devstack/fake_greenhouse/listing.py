"""List endpoints: query validation, filters, id-descending pages and opaque cursors.

Harvest's rules are enforced strictly, so that client mistakes fail here rather than in
production:

- a request with ``cursor`` carries no other parameter;
- ``per_page`` is 1 to 500;
- id filters take at most 50 comma-separated integers;
- date filters are ``op|timestamp`` pairs chained with ``|`` (``gte``, ``lte``, ``gt``, ``lt``);
- parameters an endpoint does not document are rejected while ``strict_filters`` is on.
 The cursor is URL-safe base64 of the original filters, the page
size and the last id served.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from shared.events import parse_timestamp

CURSOR_MESSAGE = "When passing a cursor, do not include other query params."
MAX_PER_PAGE = 500
DEFAULT_PER_PAGE = 100
MAX_IDS = 50
MAX_FIELDS = 50


class QueryError(Exception):
    """An invalid list query, returned as 422 with ``{"errors": [message]}``."""


@dataclass(frozen=True)
class Filter:
    """A query parameter's matching rule: its kind and the record field it reads."""

    kind: str
    field: str


def _ids(name: str) -> Filter:
    return Filter("ids", name)


def _date(name: str) -> Filter:
    return Filter("date", name)


def _eq(name: str) -> Filter:
    return Filter("eq", name)


def _flag(name: str) -> Filter:
    return Filter("bool", name)


COMMON_FILTERS = {
    "ids": _ids("id"),
    "created_at": _date("created_at"),
    "updated_at": _date("updated_at"),
}

FILTERS: dict[str, dict[str, Filter]] = {
    "applications": {
        "candidate_ids": _ids("candidate_id"),
        "job_ids": _ids("job_id"),
        "source_ids": _ids("source_id"),
        "referrer_ids": _ids("referrer_id"),
        "status": Filter("application_status", "status"),
        "stage_name": _eq("stage_name"),
        "last_activity_at": _date("last_activity_at"),
        "prospect": _flag("prospect"),
    },
    "candidates": {
        "email": Filter("email", "email_addresses"),
        "tag": Filter("tag", "tags"),
        "private": _flag("private"),
        "last_activity_at": _date("last_activity_at"),
    },
    "custom_field_options": {
        "custom_field_ids": _ids("custom_field_id"),
        "active": _flag("active"),
    },
    "custom_fields": {
        "field_type": _eq("field_type"),
        "active": _flag("active"),
        "name": _eq("name"),
        "name_key": _eq("name_key"),
    },
    "email_templates": {"email_type": _eq("email_type"), "from_type": _eq("from_type")},
    "interviewers": {
        "interview_ids": _ids("interview_id"),
        "user_ids": _ids("user_id"),
        "response_status": _eq("response_status"),
    },
    "interviews": {
        "job_ids": _ids("job_id"),
        "application_ids": _ids("application_id"),
        "job_interview_ids": _ids("job_interview_id"),
        "organizer_ids": _ids("organizer_id"),
        "starts_at": _date("starts_at"),
        "ends_at": _date("ends_at"),
        "external_event_id": _eq("external_event_id"),
        "status": _eq("status"),
    },
    "job_interviews": {
        "job_ids": _ids("job_id"),
        "job_interview_stage_ids": _ids("job_interview_stage_id"),
        "active": _flag("active"),
        "scheduling_type": _eq("scheduling_type"),
    },
    "jobs": {
        "status": _eq("status"),
        "confidential": _flag("confidential"),
        "requisition_id": _eq("requisition_id"),
        "opened_at": _date("opened_at"),
        "closed_at": _date("closed_at"),
    },
    "notes": {
        "candidate_ids": _ids("candidate_id"),
        "application_ids": _ids("application_id"),
        "user_ids": _ids("user_id"),
        "type": _eq("type"),
        "visibility": _eq("visibility"),
    },
    "sources": {},
    "users": {
        "primary_email": Filter("email_exact", "primary_email"),
        "deactivated": _flag("deactivated"),
        "employee_ids": Filter("strings", "employee_id"),
        "show_service_accounts": Filter("ignored", ""),
    },
}

_DATE_OPERATORS: dict[str, Callable[[datetime, datetime], bool]] = {
    "gte": lambda value, bound: value >= bound,
    "lte": lambda value, bound: value <= bound,
    "gt": lambda value, bound: value > bound,
    "lt": lambda value, bound: value < bound,
}
_APPLICATION_STATUSES = {
    "active": "in_process",
    "rejected": "rejected",
    "hired": "hired",
    "converted": "converted",
}


@dataclass(frozen=True)
class ListQuery:
    """A validated list query; ``raw`` keeps the filters as given, for the next cursor."""

    resource: str
    raw: dict[str, str]
    per_page: int
    after_id: int | None = None
    fields: tuple[str, ...] = ()
    predicates: tuple[Callable[[dict[str, Any]], bool], ...] = field(default=(), repr=False)


def parse_query(resource: str, params: list[tuple[str, str]], *, strict: bool) -> ListQuery:
    """Validate the query string of ``GET /v3/<resource>``; raise QueryError if invalid."""
    names = [name for name, _ in params]
    if "cursor" in names:
        if len(params) != 1:
            raise QueryError(CURSOR_MESSAGE)
        return _decode_cursor(resource, params[0][1], strict=strict)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise QueryError(f"Repeated query parameters: {', '.join(duplicates)}.")
    return _build(resource, dict(params), after_id=None, strict=strict)


def _build(resource: str, raw: dict[str, str], *, after_id: int | None, strict: bool) -> ListQuery:
    filters = {**COMMON_FILTERS, **FILTERS[resource]}
    per_page = _per_page(raw.get("per_page"))
    fields = _fields(raw.get("fields"))
    predicates = []
    for name, value in raw.items():
        if name in ("per_page", "fields"):
            continue
        spec = filters.get(name)
        if spec is None:
            if strict:
                raise QueryError(f"Unknown query parameter {name!r} for /v3/{resource}.")
            continue
        predicates.append(_predicate(name, spec, value))
    return ListQuery(resource, raw, per_page, after_id, fields, tuple(predicates))


def _per_page(value: str | None) -> int:
    if value is None:
        return DEFAULT_PER_PAGE
    if not value.isdigit() or not 1 <= int(value) <= MAX_PER_PAGE:
        raise QueryError(f"per_page must be an integer from 1 to {MAX_PER_PAGE}.")
    return int(value)


def _fields(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    names = tuple(name for name in value.split(",") if name)
    if not names or len(names) > MAX_FIELDS:
        raise QueryError(f"fields must list from 1 to {MAX_FIELDS} field names.")
    return names


def _predicate(name: str, spec: Filter, value: str) -> Callable[[dict[str, Any]], bool]:
    if spec.kind == "ids":
        ids = _parse_ids(name, value)
        return lambda record: record.get(spec.field) in ids
    if spec.kind == "date":
        bounds = _parse_date_filter(name, value)
        return lambda record: _within(record.get(spec.field), bounds)
    if spec.kind == "bool":
        if value not in ("true", "false"):
            raise QueryError(f"{name} must be true or false.")
        return lambda record: bool(record.get(spec.field)) == (value == "true")
    if spec.kind == "application_status":
        if value not in _APPLICATION_STATUSES:
            raise QueryError(f"status must be one of {', '.join(_APPLICATION_STATUSES)}.")
        return lambda record: record.get("status") == _APPLICATION_STATUSES[value]
    if spec.kind == "email":
        wanted = value.lower()
        return lambda record: any(
            str(item.get("value", "")).lower() == wanted for item in record.get(spec.field, [])
        )
    if spec.kind == "email_exact":
        return lambda record: str(record.get(spec.field, "")).lower() == value.lower()
    if spec.kind == "tag":
        return lambda record: value in record.get(spec.field, [])
    if spec.kind == "strings":
        wanted_values = set(value.split(","))
        return lambda record: record.get(spec.field) in wanted_values
    if spec.kind == "ignored":
        return lambda record: True
    return lambda record: record.get(spec.field) == value


def _parse_ids(name: str, value: str) -> set[int]:
    parts = value.split(",")
    if not all(part.isdigit() for part in parts):
        raise QueryError(f"{name} must be comma-separated integer ids.")
    if len(parts) > MAX_IDS:
        raise QueryError(f"{name} accepts at most {MAX_IDS} ids, got {len(parts)}.")
    return {int(part) for part in parts}


def _parse_date_filter(name: str, value: str) -> list[tuple[str, datetime]]:
    parts = value.split("|")
    if len(parts) % 2:
        raise QueryError(f"{name} must be operator|timestamp pairs, e.g. gte|2026-01-01T00:00:00Z.")
    bounds = []
    for operator, text in zip(parts[::2], parts[1::2], strict=True):
        moment = parse_timestamp(text)
        if operator not in _DATE_OPERATORS or moment is None or "T" not in text:
            raise QueryError(
                f"{name} has an invalid bound {operator}|{text}: use gte, lte, gt or lt "
                "followed by an ISO-8601 timestamp."
            )
        bounds.append((operator, moment))
    return bounds


def _within(value: Any, bounds: list[tuple[str, datetime]]) -> bool:
    moment = parse_timestamp(value)
    if moment is None:
        return False
    return all(_DATE_OPERATORS[operator](moment, bound) for operator, bound in bounds)


def select_page(
    records: Iterable[dict[str, Any]], query: ListQuery
) -> tuple[list[dict[str, Any]], str | None]:
    """Return one page of matching records, id descending, and the next cursor if any."""
    matching = sorted(
        (
            record
            for record in records
            if (query.after_id is None or record["id"] < query.after_id)
            and all(predicate(record) for predicate in query.predicates)
        ),
        key=lambda record: record["id"],
        reverse=True,
    )
    page = matching[: query.per_page]
    if len(matching) <= query.per_page:
        return page, None
    return page, _encode_cursor(query, page[-1]["id"])


def project(record: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """Keep only the requested fields (and always the id)."""
    if not fields:
        return record
    return {key: value for key, value in record.items() if key == "id" or key in fields}


def _encode_cursor(query: ListQuery, after_id: int) -> str:
    document = {"r": query.resource, "q": query.raw, "a": after_id}
    return base64.urlsafe_b64encode(orjson.dumps(document)).rstrip(b"=").decode("ascii")


def _decode_cursor(resource: str, cursor: str, *, strict: bool) -> ListQuery:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        document = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if document["r"] != resource:
            raise QueryError("The cursor belongs to another endpoint.")
        return _build(resource, dict(document["q"]), after_id=int(document["a"]), strict=strict)
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeError):
        raise QueryError("Invalid cursor.") from None
