"""Provider detection and the protection decision, from literal interviews."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.enricher.meetings import (
    DEFAULT_PROVIDERS,
    Interview,
    LinkPolicy,
    Protect,
    Unchanged,
    Unprotect,
    classify_url,
    decide,
    find_meeting_link,
    parse_interview,
    parse_providers,
    protection_alert,
    unsupported_provider_alert,
    urls_in_text,
)
from shared.alerts import validate_alert
from shared.errors import InvalidEventError
from shared.links import verify_link

PROVIDERS = parse_providers(DEFAULT_PROVIDERS)
KEY = "s" * 32
NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
POLICY = LinkPolicy(
    base_url="https://verify.example/l",
    signing_keys=(KEY,),
    valid_after_end=timedelta(hours=6),
    providers=PROVIDERS,
)
PROTECTED = {"recruiter@corp.example"}
INTERVIEW = Interview(
    id=510000002,
    candidate_id=800000001,
    application_id=900000001,
    job_id=300000001,
    status="scheduled",
    starts_at=datetime(2026, 1, 12, 15, 0, tzinfo=UTC),
    ends_at=datetime(2026, 1, 12, 16, 0, tzinfo=UTC),
    video_conferencing_url="https://us02web.zoom.us/j/85512345678?pwd=abc",
    external_event_id="fake-calendar-event-0001",
    organizer_email="recruiter@corp.example",
    interviewer_emails=("engineer@corp.example",),
)


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("https://zoom.us/j/123", "zoom"),
        ("https://us02web.zoom.us/j/123?pwd=x", "zoom"),
        ("https://meet.google.com/abc-defg-hij", "google_meet"),
        ("https://teams.microsoft.com/l/meetup-join/19%3ameeting", "microsoft_teams"),
        ("https://teams.live.com/meet/9312", "microsoft_teams"),
        ("https://acme.webex.com/meet/jane", "webex"),
        ("https://ZOOM.US/j/1", "zoom"),
        ("https://zoom.us./j/1", "zoom"),
    ],
)
def test_known_provider_is_detected(url: str, provider: str) -> None:
    assert classify_url(url, PROVIDERS).provider == provider


@pytest.mark.parametrize(
    "url",
    [
        "https://zoom.us.evil.example/j/1",
        "https://evilzoom.us/j/1",
        "https://zoom.us@evil.example/j/1",
        "https://user:pw@zoom.us/j/1",
        "https://evil.example\\@zoom.us/j/1",
        "https://evil.example/zoom.us",
        "https://zoom.us:8443/j/1",
        "https://webex.com/meet/x",
        "https://meet.google.com.evil.example/abc",
        "https://z\u043e\u043em.us/j/1",  # Cyrillic o
        "javascript://zoom.us/%0aalert(1)",
        "https://zoom.us/j/1\nhttps://evil.example",
        "https://[::1]/j/1",
        "https://127.0.0.1/j/1",
    ],
)
def test_look_alike_is_not_supported(url: str) -> None:
    assert classify_url(url, PROVIDERS).provider is None


def test_video_url_wins_over_location() -> None:
    link = find_meeting_link("https://meet.google.com/abc", "https://zoom.us/j/1", PROVIDERS)

    assert link is not None
    assert link.provider == "google_meet"


def test_link_found_inside_location() -> None:
    location = "Room 4 (or join: https://acme.webex.com/meet/jane)."

    link = find_meeting_link(None, location, PROVIDERS)

    assert link is not None
    assert link.url == "https://acme.webex.com/meet/jane"
    assert link.provider == "webex"


def test_location_prefers_supported_url() -> None:
    location = "Agenda https://docs.example/a then https://zoom.us/j/9"

    link = find_meeting_link(None, location, PROVIDERS)

    assert link is not None
    assert link.url == "https://zoom.us/j/9"


def test_location_without_url_has_no_link() -> None:
    assert find_meeting_link(None, "Room 4, second floor", PROVIDERS) is None
    assert find_meeting_link("  ", None, PROVIDERS) is None


def test_urls_in_text_strips_punctuation() -> None:
    assert urls_in_text("see <https://zoom.us/j/1>, or https://meet.google.com/x.") == [
        "https://zoom.us/j/1",
        "https://meet.google.com/x",
    ]


def test_custom_provider_table() -> None:
    providers = parse_providers({"whereby": ["whereby.com"]})

    assert classify_url("https://whereby.com/room", providers).provider == "whereby"
    assert classify_url("https://zoom.us/j/1", providers).provider is None


@pytest.mark.parametrize(
    "table",
    [
        {"zoom": ["*"]},
        {"zoom": ["*.com"]},
        {"zoom": []},
        {"Zoom!": ["zoom.us"]},
        {"x": ["a b.com"]},
    ],
)
def test_invalid_provider_table_is_rejected(table: dict[str, list[str]]) -> None:
    with pytest.raises(ValueError, match="provider"):
        parse_providers(table)


def test_protected_interview_gets_verifiable_link() -> None:
    decision = decide(INTERVIEW, PROTECTED, POLICY, NOW)

    assert isinstance(decision, Protect)
    assert decision.participants == ("recruiter@corp.example",)
    assert decision.secure_url.startswith("https://verify.example/l/")
    token = decision.secure_url.rsplit("/", 1)[1]
    claims = verify_link(token, [KEY], NOW)
    assert claims.url == INTERVIEW.video_conferencing_url
    assert claims.candidate_id == 800000001
    assert claims.expires_at == INTERVIEW.ends_at + timedelta(hours=6)  # type: ignore[operator]


def test_protected_document_fields() -> None:
    decision = decide(INTERVIEW, PROTECTED, POLICY, NOW)
    assert isinstance(decision, Protect)

    document = decision.document()

    assert document["type"] == "interview.protected"
    assert document["interview_id"] == 510000002
    assert document["application_id"] == 900000001
    assert document["external_event_id"] == "fake-calendar-event-0001"
    assert document["starts_at"] == "2026-01-12T15:00:00.000Z"
    assert document["original_url"] == INTERVIEW.video_conferencing_url
    assert document["secure_url"] == decision.secure_url
    assert document["protected_participants"] == ["recruiter@corp.example"]


def test_same_version_same_link_new_time_new_link() -> None:
    first = decide(INTERVIEW, PROTECTED, POLICY, NOW)
    again = decide(INTERVIEW, PROTECTED, POLICY, NOW + timedelta(minutes=5))
    moved = replace(
        INTERVIEW,
        starts_at=datetime(2026, 1, 13, 15, 0, tzinfo=UTC),
        ends_at=datetime(2026, 1, 13, 16, 0, tzinfo=UTC),
    )
    later = decide(moved, PROTECTED, POLICY, NOW)
    assert isinstance(first, Protect)
    assert isinstance(again, Protect)
    assert isinstance(later, Protect)

    assert again.document() == first.document()
    assert later.secure_url != first.secure_url
    assert later.fingerprint != first.fingerprint


def test_new_url_gives_new_link() -> None:
    moved = replace(INTERVIEW, video_conferencing_url="https://meet.google.com/abc-defg-hij")

    first = decide(INTERVIEW, PROTECTED, POLICY, NOW)
    later = decide(moved, PROTECTED, POLICY, NOW)

    assert isinstance(first, Protect)
    assert isinstance(later, Protect)
    assert later.secure_url != first.secure_url


def test_protected_interviewer_is_enough() -> None:
    interview = replace(INTERVIEW, organizer_email=None)

    decision = decide(interview, {"engineer@corp.example"}, POLICY, NOW)

    assert isinstance(decision, Protect)


def test_no_protected_participant_is_unprotected() -> None:
    assert decide(INTERVIEW, {"other@corp.example"}, POLICY, NOW) == Unprotect(
        "no_protected_participant"
    )


def test_unknown_provider_is_never_wrapped() -> None:
    interview = replace(INTERVIEW, video_conferencing_url="https://video.example.invalid/j/1")

    decision = decide(interview, PROTECTED, POLICY, NOW)

    assert isinstance(decision, Unprotect)
    assert decision.reason == "unsupported_meeting_provider"
    assert decision.link is not None
    assert decision.link.host == "video.example.invalid"


def test_no_meeting_link_is_unprotected() -> None:
    interview = replace(INTERVIEW, video_conferencing_url=None, location="Room 4")

    assert decide(interview, PROTECTED, POLICY, NOW) == Unprotect("no_meeting_link")


@pytest.mark.parametrize("status", ["to_be_scheduled", "skipped", ""])
def test_unscheduled_status_is_unprotected(status: str) -> None:
    interview = replace(INTERVIEW, status=status)

    assert decide(interview, PROTECTED, POLICY, NOW) == Unprotect("not_scheduled")


def test_scheduled_without_start_is_unprotected() -> None:
    interview = replace(INTERVIEW, starts_at=None, ends_at=None)

    assert decide(interview, PROTECTED, POLICY, NOW) == Unprotect("not_scheduled")


def test_finished_or_past_interview_is_left_alone() -> None:
    finished = replace(INTERVIEW, status="awaiting_feedback")
    later = NOW + timedelta(days=10)

    assert isinstance(decide(finished, PROTECTED, POLICY, NOW), Unchanged)
    assert isinstance(decide(INTERVIEW, PROTECTED, POLICY, later), Unchanged)


def test_parse_interview_from_poll_data() -> None:
    data = {
        "id": 510000002,
        "application_id": 900000001,
        "status": "scheduled",
        "starts_at": "2026-01-12T15:00:00.000Z",
        "ends_at": "2026-01-12T16:00:00.000Z",
        "location": "Room 1",
        "video_conferencing_url": None,
        "external_event_id": "evt-1",
        "organizer": {"id": 700000001, "email": " Recruiter@Corp.Example "},
        "interviewers": [{"user_id": 7, "email": "ENG@corp.example"}, {"user_id": None}],
        "candidate_id": 800000001,
    }

    interview = parse_interview(data, None)

    assert interview.candidate_id == 800000001
    assert interview.organizer_email == "recruiter@corp.example"
    assert interview.interviewer_emails == ("eng@corp.example",)
    assert interview.starts_at == datetime(2026, 1, 12, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"id": "1", "candidate_id": 2},
        {"id": 1},
        {"id": 1, "candidate_id": 2, "interviewers": 3},
    ],
)
def test_parse_interview_rejects_malformed(data: dict[str, object]) -> None:
    with pytest.raises(InvalidEventError):
        parse_interview(data, None)


def test_alerts_are_valid_and_deterministic() -> None:
    decision = decide(INTERVIEW, PROTECTED, POLICY, NOW)
    assert isinstance(decision, Protect)
    link = classify_url("https://video.example.invalid/j/1", PROVIDERS)

    first = protection_alert(decision, NOW)
    replayed = protection_alert(decision, NOW + timedelta(hours=1))
    unsupported = unsupported_provider_alert(INTERVIEW, link, NOW)

    assert first.id == replayed.id
    assert first.id.startswith("protection:510000002:")
    for alert in (first, unsupported):
        document = {k: v for k, v in vars(alert).items() if v is not None}
        assert validate_alert(document) == alert
    assert unsupported.kind == "unsupported_meeting_provider"
