"""Windows, marks, remembered versions, fingerprints and the sweep's vanished interviews."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.poller.planning import (
    InterviewMemo,
    SeenVersions,
    Window,
    advance_mark,
    interview_fingerprint,
    interview_hash,
    memo_expired,
    needs_publication,
    next_window,
    seconds_until_due,
    vanished_interviews,
)

NOW = datetime(2026, 1, 8, 12, 0, tzinfo=UTC)
OVERLAP = timedelta(minutes=10)
LOOKBACK = timedelta(hours=24)

INTERVIEW = {
    "id": 510000002,
    "application_id": 900000001,
    "starts_at": "2026-01-12T15:00:00.000Z",
    "video_conferencing_url": "https://video.example.invalid/j/1",
    "organizer_id": 700000001,
    "updated_at": "2026-01-08T09:30:01.000Z",
}
PANEL = [
    {"id": 530000002, "interview_id": 510000002, "user_id": 700000003, "updated_at": "x"},
    {"id": 530000001, "interview_id": 510000002, "user_id": 700000002, "updated_at": "x"},
]
ORGANIZER = {"id": 700000001, "email": "organizer@example.invalid"}


def memo(identifier: int, *, starts_at: str | None, updated_at: str | None) -> InterviewMemo:
    return InterviewMemo(
        id=identifier,
        candidate_id=800000001,
        application_id=900000001,
        fingerprint="f",
        record_hash="h",
        updated_at=updated_at,
        starts_at=starts_at,
    )


def test_first_window_looks_back() -> None:
    window = next_window(None, NOW, overlap=OVERLAP, lookback=LOOKBACK)

    assert window == Window(NOW - LOOKBACK, NOW)


def test_window_starts_overlap_before_mark() -> None:
    mark = NOW - timedelta(hours=1)

    window = next_window(mark, NOW, overlap=OVERLAP, lookback=LOOKBACK)

    assert window.start == mark - OVERLAP
    assert window.end == NOW


def test_window_never_starts_after_its_end() -> None:
    window = next_window(NOW + timedelta(hours=1), NOW, overlap=OVERLAP, lookback=LOOKBACK)

    assert window.start == NOW


def test_mark_moves_to_latest_updated_at() -> None:
    window = Window(NOW - LOOKBACK, NOW)
    seen = [NOW - timedelta(minutes=5), NOW - timedelta(minutes=2)]

    assert advance_mark(NOW - timedelta(hours=1), window, seen) == NOW - timedelta(minutes=2)


def test_mark_never_moves_back() -> None:
    window = Window(NOW - LOOKBACK, NOW)
    mark = NOW - timedelta(minutes=1)

    assert advance_mark(mark, window, [NOW - timedelta(hours=2)]) == mark


def test_mark_of_empty_first_poll_is_window_start() -> None:
    window = Window(NOW - LOOKBACK, NOW)

    assert advance_mark(None, window, []) == NOW - LOOKBACK


def test_seen_versions_skip_same_updated_at() -> None:
    versions = SeenVersions()
    versions.remember(1, "2026-01-08T11:55:00.000Z")

    assert not versions.is_new(1, "2026-01-08T11:55:00.000Z")
    assert versions.is_new(1, "2026-01-08T11:56:00.000Z")
    assert versions.is_new(2, "2026-01-08T11:55:00.000Z")


def test_seen_versions_pruned_below_window() -> None:
    versions = SeenVersions(
        {
            1: "2026-01-08T11:40:00.000Z",  # before mark - overlap: the window cannot return it
            2: "2026-01-08T11:52:00.000Z",
            3: "not a time",
        }
    )

    versions.prune(NOW, OVERLAP, max_entries=100)

    assert versions.versions == {2: "2026-01-08T11:52:00.000Z"}


def test_seen_versions_keep_newest_past_cap() -> None:
    versions = SeenVersions(
        {
            1: "2026-01-08T11:57:00.000Z",
            2: "2026-01-08T11:59:00.000Z",
            3: "2026-01-08T11:58:00.000Z",
        }
    )

    versions.prune(NOW, OVERLAP, max_entries=2)

    assert set(versions.versions) == {2, 3}


def test_fingerprint_ignores_panel_order() -> None:
    reordered = list(reversed(PANEL))

    assert interview_fingerprint(INTERVIEW, PANEL, ORGANIZER) == interview_fingerprint(
        INTERVIEW, reordered, ORGANIZER
    )


def test_fingerprint_changes_with_panel_member() -> None:
    added = [*PANEL, {"id": 530000003, "interview_id": 510000002, "user_id": 700000004}]

    assert interview_fingerprint(INTERVIEW, PANEL, ORGANIZER) != interview_fingerprint(
        INTERVIEW, added, ORGANIZER
    )


def test_fingerprint_changes_with_organizer_email() -> None:
    other = {"id": 700000001, "email": "other@example.invalid"}

    assert interview_fingerprint(INTERVIEW, PANEL, ORGANIZER) != interview_fingerprint(
        INTERVIEW, PANEL, other
    )


def test_fingerprint_changes_with_start() -> None:
    moved = {**INTERVIEW, "starts_at": "2026-01-13T15:00:00.000Z"}

    assert interview_fingerprint(INTERVIEW, PANEL, None) != interview_fingerprint(
        moved, PANEL, None
    )


def test_needs_publication_compares_record() -> None:
    published = InterviewMemo(
        id=INTERVIEW["id"],  # type: ignore[arg-type]
        candidate_id=800000001,
        application_id=900000001,
        fingerprint="f",
        record_hash=interview_hash(INTERVIEW),
        updated_at=str(INTERVIEW["updated_at"]),
        starts_at=str(INTERVIEW["starts_at"]),
    )

    assert needs_publication(None, INTERVIEW)
    assert not needs_publication(published, INTERVIEW)
    assert needs_publication(published, {**INTERVIEW, "location": "Room 2"})


def test_vanished_only_within_range() -> None:
    memos = {
        1: memo(1, starts_at="2026-01-09T10:00:00Z", updated_at=None),  # listed
        2: memo(2, starts_at="2026-01-09T11:00:00Z", updated_at=None),  # gone
        3: memo(3, starts_at="2026-01-20T11:00:00Z", updated_at=None),  # beyond the range
        4: memo(4, starts_at="2026-01-08T11:00:00Z", updated_at=None),  # already started
        5: memo(5, starts_at=None, updated_at=None),  # never scheduled
    }

    vanished = vanished_interviews(memos, {1}, start=NOW, end=NOW + timedelta(hours=72))

    assert vanished == [2]


def test_memo_of_upcoming_interview_kept() -> None:
    upcoming = memo(1, starts_at="2026-01-09T10:00:00Z", updated_at="2025-12-01T00:00:00Z")

    assert not memo_expired(upcoming, now=NOW, interviews_mark=NOW, overlap=OVERLAP)


def test_memo_inside_overlap_kept() -> None:
    recent = memo(1, starts_at="2026-01-01T10:00:00Z", updated_at="2026-01-08T11:55:00Z")

    assert not memo_expired(recent, now=NOW, interviews_mark=NOW, overlap=OVERLAP)


def test_memo_of_finished_interview_expires() -> None:
    finished = memo(1, starts_at="2026-01-01T10:00:00Z", updated_at="2026-01-01T09:00:00Z")
    unscheduled = memo(2, starts_at=None, updated_at="2026-01-01T09:00:00Z")

    assert memo_expired(finished, now=NOW, interviews_mark=NOW, overlap=OVERLAP)
    assert memo_expired(unscheduled, now=NOW, interviews_mark=NOW, overlap=OVERLAP)


def test_jobs_never_run_are_due() -> None:
    waits = seconds_until_due({"sweep": 100.0}, {"interviews": 30.0, "sweep": 600.0}, 160.0)

    assert waits == {"interviews": 0.0, "sweep": 540.0}
