"""Secure link tokens: determinism, tampering, expiry and key rotation."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from shared.errors import ExpiredLinkError, InvalidLinkError, TamperedLinkError
from shared.links import LinkClaims, link_url, parse_signing_keys, sign_link, verify_link

KEY = "k" * 32
OLD_KEY = "o" * 40
EXPIRY = datetime(2026, 1, 12, 22, 0, tzinfo=UTC)
BEFORE = EXPIRY - timedelta(hours=1)
URL = "https://zoom.us/j/123456789?pwd=abc"


def token(**overrides: object) -> str:
    claims: dict[str, object] = {
        "interview_id": 510000002,
        "candidate_id": 800000001,
        "url": URL,
        "expires_at": EXPIRY,
    }
    claims.update(overrides)
    return sign_link([KEY], **claims)  # type: ignore[arg-type]


def test_round_trip_returns_claims() -> None:
    claims = verify_link(token(), [KEY], BEFORE)

    assert claims == LinkClaims(510000002, 800000001, URL, EXPIRY)


def test_same_claims_give_same_token() -> None:
    assert token() == token()


def test_new_url_or_expiry_gives_new_token() -> None:
    assert token(url="https://zoom.us/j/987") != token()
    assert token(expires_at=EXPIRY + timedelta(hours=1)) != token()


def test_token_is_url_safe() -> None:
    assert all(char.isalnum() or char in "-_." for char in token())


def test_changed_payload_is_tampered() -> None:
    payload, signature = token().split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["u"] = "https://evil.example/"
    forged = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()

    with pytest.raises(TamperedLinkError):
        verify_link(f"{forged}.{signature}", [KEY], BEFORE)


def test_changed_signature_is_tampered() -> None:
    payload, signature = token().split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    with pytest.raises(TamperedLinkError):
        verify_link(f"{payload}.{flipped}", [KEY], BEFORE)


def test_unknown_key_is_tampered() -> None:
    with pytest.raises(TamperedLinkError):
        verify_link(token(), ["x" * 32], BEFORE)


def test_expired_token_names_interview() -> None:
    with pytest.raises(ExpiredLinkError) as caught:
        verify_link(token(), [KEY], EXPIRY)

    assert caught.value.interview_id == 510000002


@pytest.mark.parametrize(
    "text",
    ["", "no-dot", ".sig", "payload.", "a.b.c", "pay load.sig", "päy.sig", "x" * 5000, "a+b.c/d"],
)
def test_malformed_token_is_rejected(text: str) -> None:
    with pytest.raises(InvalidLinkError):
        verify_link(text, [KEY], BEFORE)


def test_extra_characters_do_not_verify() -> None:
    good = token()

    with pytest.raises(InvalidLinkError):
        verify_link(good + "!", [KEY], BEFORE)


def test_rotation_first_key_signs_all_verify() -> None:
    old = sign_link([OLD_KEY], interview_id=1, candidate_id=2, url=URL, expires_at=EXPIRY)
    new = sign_link([KEY, OLD_KEY], interview_id=1, candidate_id=2, url=URL, expires_at=EXPIRY)

    assert verify_link(old, [KEY, OLD_KEY], BEFORE).interview_id == 1
    assert verify_link(new, [KEY], BEFORE).interview_id == 1
    with pytest.raises(TamperedLinkError):
        verify_link(new, [OLD_KEY], BEFORE)


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "/relative", "data:text/html,x", "ftp://x.example/"]
)
def test_sign_rejects_non_http_url(url: str) -> None:
    with pytest.raises(InvalidLinkError):
        token(url=url)


def test_parse_signing_keys_splits_and_checks_length() -> None:
    assert parse_signing_keys(f"{KEY}, {OLD_KEY}") == [KEY, OLD_KEY]
    with pytest.raises(ValueError, match="at least 32"):
        parse_signing_keys(f"{KEY},short")
    with pytest.raises(ValueError, match="empty"):
        parse_signing_keys(f"{KEY},,")


def test_link_url_joins_base_and_token() -> None:
    assert link_url("https://verify.example/l/", "abc.def") == "https://verify.example/l/abc.def"


@pytest.mark.parametrize("expiry", [2**62, -(10**15)])
def test_unrepresentable_expiry_is_invalid(expiry: int) -> None:
    from shared.links import _signature

    claims = {"v": 1, "i": 1, "c": 2, "u": URL, "e": expiry}
    payload = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
    signature = base64.urlsafe_b64encode(_signature(KEY, payload)).rstrip(b"=").decode()

    with pytest.raises(InvalidLinkError, match="expiry"):
        verify_link(f"{payload}.{signature}", [KEY], BEFORE)
