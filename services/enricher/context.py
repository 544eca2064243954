"""The candidate context document: what the verification platform may trust about a candidate.

Published to the compacted topic ``greenguard.candidate-context`` under the candidate id.
Schema version 1:

    schema_version        1
    candidate_id          integer
    anonymized            true once Greenhouse anonymized the candidate
    identity              first_name, last_name, preferred_name, company, title, time_zone;
                          null when anonymized
    emails, phones        [{"value", "type"}]; empty when anonymized
    applications          [{"id", "job_id", "job_name", "status", "stage_name", "source_id",
                          "source_name", "prospect", "created_at"}], by id
    upcoming_interviews   [{"id", "application_id", "job_id", "job_name", "status", "starts_at",
                          "ends_at", "organizer", "panel", "protected", "provider",
                          "secure_url"}], by start time; organizer and panel members are
                          {"user_id", "name", "email"} (panel members add "response_status")
    custom_fields         {name_key: value} for the verification-relevant fields only
    updated_at            the candidate's updated_at in Greenhouse

The document is built from Harvest V3 records only, so that the same records always give the
same document. This module is pure: no Kafka, HTTP or framework imports.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.events import parse_timestamp

SCHEMA_VERSION = 1
IDENTITY_FIELDS = ("first_name", "last_name", "preferred_name", "company", "title", "time_zone")

Record = Mapping[str, Any]


@dataclass(frozen=True)
class CandidateRecords:
    """Everything read from Harvest for one candidate; reference records are keyed by id."""

    candidate: Record
    applications: Sequence[Record] = ()
    interviews: Sequence[Record] = ()
    interviewers: Sequence[Record] = ()
    jobs: Mapping[int, Record] = field(default_factory=dict)
    sources: Mapping[int, Record] = field(default_factory=dict)
    users: Mapping[int, Record] = field(default_factory=dict)

    def reference_ids(self) -> tuple[set[int], set[int], set[int]]:
        """Return the job, source and user ids the document needs names for."""
        jobs = {_id(r.get("job_id")) for r in (*self.applications, *self.interviews)}
        sources = {_id(r.get("source_id")) for r in self.applications}
        users = {_id(r.get("organizer_id")) for r in self.interviews}
        users |= {_id(r.get("user_id")) for r in self.interviewers}
        return _known(jobs), _known(sources), _known(users)


def build_context(
    records: CandidateRecords,
    *,
    protection: Mapping[int, Record],
    custom_field_keys: Collection[str],
    anonymized: bool = False,
) -> dict[str, Any]:
    """Build the context document.

    ``protection`` maps interview ids to their last ``interview.protected`` record;
    ``custom_field_keys`` are the name_keys copied from the candidate's custom fields.
    ``anonymized`` drops the personal fields whatever Greenhouse still returned.
    """
    candidate = records.candidate
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "candidate_id": candidate["id"],
        "anonymized": anonymized,
        "identity": {name: candidate.get(name) for name in IDENTITY_FIELDS},
        "emails": _contacts(candidate.get("email_addresses")),
        "phones": _contacts(candidate.get("phone_numbers")),
        "applications": [_application(a, records) for a in _by_id(records.applications)],
        "upcoming_interviews": _interviews(records, protection),
        "custom_fields": _custom_fields(candidate.get("custom_fields"), custom_field_keys),
        "updated_at": candidate.get("updated_at"),
    }
    return anonymize(document) if anonymized else document


def anonymize(document: Mapping[str, Any]) -> dict[str, Any]:
    """Return the document without personal fields, marked anonymized."""
    return {**document, "anonymized": True, "identity": None, "emails": [], "phones": []}


def _application(application: Record, records: CandidateRecords) -> dict[str, Any]:
    job_id, source_id = _id(application.get("job_id")), _id(application.get("source_id"))
    return {
        "id": application.get("id"),
        "job_id": job_id,
        "job_name": _name(records.jobs, job_id),
        "status": application.get("status"),
        "stage_name": application.get("stage_name"),
        "source_id": source_id,
        "source_name": _name(records.sources, source_id),
        "prospect": bool(application.get("prospect")),
        "created_at": application.get("created_at"),
    }


def _interviews(
    records: CandidateRecords, protection: Mapping[int, Record]
) -> list[dict[str, Any]]:
    panels: dict[int, list[Record]] = {}
    for row in records.interviewers:
        interview_id = _id(row.get("interview_id"))
        if interview_id is not None:
            panels.setdefault(interview_id, []).append(row)
    interviews = []
    for interview in sorted(records.interviews, key=_start_then_id):
        interview_id = _id(interview.get("id"))
        if interview_id is None:
            continue
        protected = protection.get(interview_id)
        job_id = _id(interview.get("job_id"))
        interviews.append(
            {
                "id": interview_id,
                "application_id": interview.get("application_id"),
                "job_id": job_id,
                "job_name": _name(records.jobs, job_id),
                "status": interview.get("status"),
                "starts_at": interview.get("starts_at"),
                "ends_at": interview.get("ends_at"),
                "organizer": _user(records.users, _id(interview.get("organizer_id")), None),
                "panel": [
                    _panel_member(row, records.users)
                    for row in _by_id(panels.get(interview_id, []))
                ],
                "protected": protected is not None,
                "provider": protected.get("provider") if protected else None,
                "secure_url": protected.get("secure_url") if protected else None,
            }
        )
    return interviews


def _panel_member(row: Record, users: Mapping[int, Record]) -> dict[str, Any]:
    member = _user(users, _id(row.get("user_id")), row.get("email"))
    assert member is not None
    return {**member, "response_status": row.get("response_status")}


def _user(users: Mapping[int, Record], user_id: int | None, email: Any) -> dict[str, Any] | None:
    if user_id is None and not email:
        return None
    user = users.get(user_id) if user_id is not None else None
    name = None
    if user is not None:
        name = user.get("name") or " ".join(
            part for part in (user.get("first_name"), user.get("last_name")) if part
        )
        email = email or user.get("primary_email") or None
    return {"user_id": user_id, "name": name or None, "email": email or None}


def _contacts(entries: Any) -> list[dict[str, Any]]:
    if not isinstance(entries, list):
        return []
    return [
        {"value": entry.get("value"), "type": entry.get("type")}
        for entry in entries
        if isinstance(entry, dict) and entry.get("value")
    ]


def _custom_fields(fields: Any, keys: Collection[str]) -> dict[str, Any]:
    if not isinstance(fields, dict):
        return {}
    copied = {}
    for key in sorted(keys):
        entry = fields.get(key)
        copied[key] = entry.get("value") if isinstance(entry, dict) else None
    return copied


def _name(table: Mapping[int, Record], record_id: int | None) -> str | None:
    record = table.get(record_id) if record_id is not None else None
    name = record.get("name") if record is not None else None
    return name if isinstance(name, str) else None


def _start_then_id(interview: Record) -> tuple[datetime, int]:
    start = parse_timestamp(interview.get("starts_at")) or datetime.max.replace(tzinfo=UTC)
    return start, _id(interview.get("id")) or 0


def _by_id(records: Iterable[Record]) -> list[Record]:
    return sorted(records, key=lambda record: _id(record.get("id")) or 0)


def _id(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _known(ids: set[int | None]) -> set[int]:
    return {value for value in ids if value is not None}
