"""The JSON Schema file and ``validate_alert`` accept and reject the same documents."""

from __future__ import annotations

from importlib import resources
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from shared.alerts import KINDS, validate_alert
from shared.errors import InvalidEventError


def load_schema() -> dict[str, Any]:
    text = resources.files("shared").joinpath("schemas/verification-alert.schema.json").read_bytes()
    schema: dict[str, Any] = orjson.loads(text)
    return schema


VALIDATOR = Draft202012Validator(load_schema())

MINIMAL: dict[str, Any] = {
    "schema_version": 1,
    "id": "a-1",
    "candidate_id": 5,
    "kind": "verified",
    "severity": "info",
    "summary": "Verified.",
    "occurred_at": "2026-01-12T15:04:05Z",
}


def variant(**changes: Any) -> dict[str, Any]:
    document = {**MINIMAL, **changes}
    return {key: value for key, value in document.items() if value is not _DROP}


_DROP = object()

VALID = {
    "minimal": MINIMAL,
    "all fields": variant(
        application_id=9,
        interview_id=10,
        details="More.",
        evidence_url="https://verify.example.invalid/r/1",
    ),
    "null optionals": variant(
        application_id=None, interview_id=None, details=None, evidence_url=None
    ),
    "offset and milliseconds": variant(occurred_at="2026-01-12T17:04:05.123+02:00"),
    "no seconds": variant(occurred_at="2026-01-12T15:04Z"),
    "http evidence in capitals": variant(evidence_url="HTTP://verify.example.invalid"),
    "id with spaces and unicode": variant(id="alert 1 é"),
    "longest id": variant(id="x" * 200),
    "longest summary": variant(summary="s" * 500),
    **{f"kind {kind}": variant(kind=kind) for kind in KINDS},
    **{f"severity {s}": variant(severity=s) for s in ("info", "warning", "critical")},
}

INVALID = {
    "missing id": variant(id=_DROP),
    "missing candidate": variant(candidate_id=_DROP),
    "missing occurred_at": variant(occurred_at=_DROP),
    "empty id": variant(id=""),
    "blank id": variant(id="   "),
    "id with newline": variant(id="a\n1"),
    "id with tab": variant(id="a\t1"),
    "id too long": variant(id="x" * 201),
    "candidate zero": variant(candidate_id=0),
    "candidate as text": variant(candidate_id="5"),
    "candidate boolean": variant(candidate_id=True),
    "application negative": variant(application_id=-1),
    "interview as text": variant(interview_id="10"),
    "unknown kind": variant(kind="suspicious"),
    "unknown severity": variant(severity="high"),
    "blank summary": variant(summary="  "),
    "summary too long": variant(summary="s" * 501),
    "empty details": variant(details=""),
    "details too long": variant(details="d" * 5001),
    "ftp evidence": variant(evidence_url="ftp://verify.example.invalid"),
    "evidence without scheme": variant(evidence_url="verify.example.invalid"),
    "evidence too long": variant(evidence_url="https://" + "e" * 1993),
    "date only": variant(occurred_at="2026-01-12"),
    "words for time": variant(occurred_at="yesterday"),
    "time as number": variant(occurred_at=1767366245),
    "unknown field": variant(priority="high"),
    "schema version 2": variant(schema_version=2),
    "schema version true": variant(schema_version=True),
    "candidate id beyond 64 bits": variant(candidate_id=2**63),
    "no zone": variant(occurred_at="2026-01-12T15:04:05"),
    "missing schema version": variant(schema_version=_DROP),
}


def accepted_by_code(document: dict[str, Any]) -> bool:
    try:
        validate_alert(document)
    except InvalidEventError:
        return False
    return True


def test_schema_is_valid_2020_12() -> None:
    Draft202012Validator.check_schema(load_schema())


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_documents_pass_both(name: str) -> None:
    document = VALID[name]

    assert accepted_by_code(document)
    assert VALIDATOR.is_valid(document), [e.message for e in VALIDATOR.iter_errors(document)]


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_documents_fail_both(name: str) -> None:
    document = INVALID[name]

    assert not accepted_by_code(document)
    assert not VALIDATOR.is_valid(document)


def test_schema_lists_the_same_kinds() -> None:
    assert tuple(load_schema()["properties"]["kind"]["enum"]) == KINDS
