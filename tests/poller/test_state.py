"""Poll state: its encoding and a round trip through the compacted topic."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from services.poller.planning import InterviewMemo, SeenVersions
from services.poller.state import PollerState, ResourceMark, load_state, save_state
from shared.kafka import Publisher, ensure_topics
from shared.settings import KafkaSettings
from shared.topics import POLLER_STATE

MARK = datetime(2026, 1, 8, 11, 59, tzinfo=UTC)
NOW = datetime(2026, 1, 8, 12, 0, tzinfo=UTC)
MEMO = InterviewMemo(
    id=510000002,
    candidate_id=800000001,
    application_id=900000001,
    fingerprint="sha256:f",
    record_hash="sha256:h",
    updated_at="2026-01-08T09:30:01.000Z",
    starts_at="2026-01-12T15:00:00.000Z",
)


def sample_state() -> PollerState:
    state = PollerState()
    state.marks["candidates"] = ResourceMark("candidates", MARK, NOW, records_published=3)
    state.seen["candidates"] = SeenVersions({800000001: "2026-01-08T11:59:00.000Z"})
    state.interviews[MEMO.id] = MEMO
    state.last_sweep_at = NOW
    return state


def test_mark_value_is_shared_format() -> None:
    key, value = sample_state().mark_record("candidates")

    assert key == "mark:candidates"
    assert value is not None
    assert orjson.loads(value) == {
        "resource": "candidates",
        "high_water_mark": "2026-01-08T11:59:00.000Z",
        "last_success_at": "2026-01-08T12:00:00.000Z",
        "records_published": 3,
        "interval_seconds": None,
    }


def test_forgotten_interview_is_tombstone() -> None:
    state = sample_state()
    del state.interviews[MEMO.id]

    assert state.interview_record(MEMO.id) == ("interview:510000002", None)


def test_table_round_trip() -> None:
    state = sample_state()
    records = [
        state.mark_record("candidates"),
        state.seen_record("candidates"),
        state.interview_record(MEMO.id),
        state.sweep_record(),
    ]
    table = {key: value for key, value in records if value is not None}

    loaded = PollerState.from_table(table)

    assert loaded == state


def test_invalid_entries_skipped() -> None:
    table = {
        "mark:jobs": b"not json",
        "interview:1": b'{"id": 1}',
        "something:else": b"{}",
        "sweep": b'{"last_success_at": "2026-01-08T12:00:00.000Z"}',
    }

    loaded = PollerState.from_table(table)

    assert loaded.marks == {}
    assert loaded.interviews == {}
    assert loaded.last_sweep_at == NOW


@pytest.mark.integration
async def test_saved_state_loads_back(kafka_settings: KafkaSettings) -> None:
    await ensure_topics(kafka_settings, [POLLER_STATE])
    state = sample_state()
    publisher = Publisher(kafka_settings)
    await publisher.start()
    try:
        await save_state(
            publisher,
            [
                state.interview_record(MEMO.id),
                state.seen_record("candidates"),
                state.mark_record("candidates"),
                state.sweep_record(),
            ],
        )
        del state.interviews[MEMO.id]
        await save_state(publisher, [state.interview_record(MEMO.id)])
    finally:
        await publisher.stop()

    loaded = await load_state(kafka_settings)

    assert loaded == state
    assert loaded.interviews == {}
