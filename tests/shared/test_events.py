"""Tests of the event envelope's serialization."""

from __future__ import annotations

from dataclasses import asdict, fields

import orjson

from shared.events import Envelope


def sample_envelope() -> Envelope:
    return Envelope(
        id="evt-1",
        source="webhook",
        type="application.stage_changed",
        resource="application",
        data={"application": {"id": 7, "tags": ["a", "b"], "jobs": [{"id": 1}]}},
        action="candidate_stage_change",
        candidate_id=3,
        application_id=7,
        received_at="2025-01-02T03:04:05.678Z",
    )


def test_to_json_keys_in_field_order() -> None:
    document = orjson.loads(sample_envelope().to_json())

    assert list(document) == [item.name for item in fields(Envelope)]


def test_to_json_same_as_asdict() -> None:
    envelope = sample_envelope()

    assert envelope.to_json() == orjson.dumps(asdict(envelope))


def test_to_json_round_trip() -> None:
    envelope = sample_envelope()

    assert Envelope.from_json(envelope.to_json()) == envelope
