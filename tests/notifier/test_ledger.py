"""Notes-ledger records: encoding and decoding."""

from __future__ import annotations

import orjson
import pytest

from services.notifier.ledger import LedgerEntry, decode_entry, ledger_key
from shared.errors import InvalidEventError


def test_entry_round_trip() -> None:
    entry = LedgerEntry("written", candidate_id=5, note_id=7, at="2026-01-12T15:04:05.000Z")

    decoded = decode_entry(ledger_key("a-1"), entry.to_json())

    assert decoded == entry


def test_writing_entry_has_no_note_id() -> None:
    document = orjson.loads(LedgerEntry("writing", candidate_id=5).to_json())

    assert document["state"] == "writing"
    assert "note_id" not in document
    assert document["at"].endswith("Z")


def test_other_keys_decode_to_none() -> None:
    assert decode_entry("custom-field:identity_verification_status", b"{}") is None
    assert decode_entry("connect:notifier", b"not json") is None


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"state": "writing"}', b'{"state": "done", "candidate_id": 5}', b"[]"],
)
def test_malformed_entry_raises(raw: bytes) -> None:
    with pytest.raises(InvalidEventError, match="notes-ledger entry"):
        decode_entry(ledger_key("a-1"), raw)
