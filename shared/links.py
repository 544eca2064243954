"""Secure meeting links: signed tokens that bind an interview to its original meeting URL.

A link is ``<base URL>/<token>``. The token has two base64url parts (no padding) joined by a dot:

    <payload>.<signature>

``payload`` is compact JSON with sorted keys: ``v`` (format version 1), ``i`` (interview id),
``c`` (candidate id), ``u`` (the original meeting URL) and ``e`` (expiry, Unix seconds).
``signature`` is HMAC-SHA256 over ``greenguard-link.`` followed by the encoded payload, keyed
with the first signing key. Several keys may be configured so that a key can be rotated: the
first signs, and every key verifies.

The token carries no random part and no issue time, so the same interview version always gives
the same link. It is signed, not encrypted: anyone with the token can read the meeting URL, which the
redirect reveals anyway.

This module is pure: no Kafka, HTTP or framework imports.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import orjson

from shared.errors import ExpiredLinkError, InvalidLinkError, TamperedLinkError

TOKEN_VERSION = 1
# Longer tokens are rejected before any decoding; real ones stay well under 2,000 characters.
MAX_TOKEN_LENGTH = 4096
MIN_KEY_LENGTH = 32
_SIGNING_CONTEXT = b"greenguard-link."
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class LinkClaims:
    """Claims of a verified token: the interview, the candidate, the meeting URL, the expiry."""

    interview_id: int
    candidate_id: int
    url: str
    expires_at: datetime


def parse_signing_keys(text: str) -> list[str]:
    """Split a comma-separated list of signing keys; raise ValueError on a short or empty one."""
    keys = [key.strip() for key in text.split(",")]
    if not keys or any(not key for key in keys):
        raise ValueError("expected one or more comma-separated signing keys, found an empty one")
    for position, key in enumerate(keys, start=1):
        if len(key) < MIN_KEY_LENGTH:
            raise ValueError(
                f"signing key {position} has {len(key)} characters, expected at least "
                f"{MIN_KEY_LENGTH}; generate one with `openssl rand -base64 48`"
            )
    return keys


def sign_link(
    keys: Sequence[str],
    *,
    interview_id: int,
    candidate_id: int,
    url: str,
    expires_at: datetime,
) -> str:
    """Return the token for these claims, signed with the first key."""
    if not keys:
        raise ValueError("no signing key configured")
    _check_url(url)
    payload = {
        "v": TOKEN_VERSION,
        "i": interview_id,
        "c": candidate_id,
        "u": url,
        "e": int(expires_at.timestamp()),
    }
    encoded = _encode(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS))
    return f"{encoded}.{_encode(_signature(keys[0], encoded))}"


def link_url(base_url: str, token: str) -> str:
    """Join the public base URL and a token."""
    return f"{base_url.rstrip('/')}/{token}"


def verify_link(token: str, keys: Sequence[str], now: datetime) -> LinkClaims:
    """Return the claims of a genuine, unexpired token.

    Raises InvalidLinkError for a malformed token, TamperedLinkError when no key produced its
    signature, and ExpiredLinkError when it is genuine but ``now`` is past its expiry.
    """
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidLinkError(f"link token is longer than {MAX_TOKEN_LENGTH} characters")
    encoded, dot, signature_text = token.partition(".")
    if not dot or not encoded or not signature_text:
        raise InvalidLinkError("link token does not have the form <payload>.<signature>")
    payload = _decode(encoded)
    signature = _decode(signature_text)
    if not any(hmac.compare_digest(signature, _signature(key, encoded)) for key in keys if key):
        raise TamperedLinkError("link token signature matches none of the signing keys")
    claims = _parse_payload(payload)
    if now >= claims.expires_at:
        raise ExpiredLinkError(
            f"link for interview {claims.interview_id} expired", interview_id=claims.interview_id
        )
    return claims


def _parse_payload(raw: bytes) -> LinkClaims:
    # Only reached for a correctly signed payload, so a failure here means a signing bug or a
    # token format this version does not know.
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidLinkError("link token payload is not JSON") from None
    if not isinstance(payload, dict) or payload.get("v") != TOKEN_VERSION:
        raise InvalidLinkError(f"link token is not format version {TOKEN_VERSION}")
    interview_id, candidate_id = payload.get("i"), payload.get("c")
    url, expiry = payload.get("u"), payload.get("e")
    for value in (interview_id, candidate_id, expiry):
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidLinkError("link token payload has a missing or non-integer field")
    if not isinstance(url, str):
        raise InvalidLinkError("link token payload has no URL")
    _check_url(url)
    assert isinstance(interview_id, int) and isinstance(candidate_id, int)
    assert isinstance(expiry, int)
    try:
        expires_at = datetime.fromtimestamp(expiry, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidLinkError("link token expiry is not a representable time") from None
    return LinkClaims(
        interview_id=interview_id,
        candidate_id=candidate_id,
        url=url,
        expires_at=expires_at,
    )


def _check_url(url: str) -> None:
    # The redirect must never lead to javascript:, data: or a relative location.
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidLinkError("link URL is not an absolute http or https URL")


def _signature(key: str, encoded_payload: str) -> bytes:
    message = _SIGNING_CONTEXT + encoded_payload.encode("ascii")
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).digest()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    # The standard decoder skips unknown characters, which would let two spellings of one token
    # verify; only the exact base64url alphabet is accepted.
    if not _BASE64URL.fullmatch(text):
        raise InvalidLinkError("link token contains characters outside base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidLinkError("link token is not valid base64url") from None
