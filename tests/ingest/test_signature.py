"""Webhook signatures against the published test vectors, including the re-serialization trap."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import orjson
import pytest

from services.ingest import signature

DATA = Path(__file__).parent.parent / "data" / "webhooks"
SECRET = b"fake-webhook-secret-DO-NOT-USE"

VECTORS = {
    "webhook-ping.json": "347322aff8c12726f854412982b6d2272259168b546572f53dc66d4684328f04",
    "webhook-candidate_stage_change.json": (
        "547ae4ec3b36156cfe4464abf9a9f3fad9385c2dbc7c25c25c69af3b357d741f"
    ),
    "webhook-merge_candidate.json": (
        "e1e8c84ed46eba185940f6b596cb0fcd9c8b2a0617a61a9d0ef81f7245226a39"
    ),
    "webhook-interview_deleted.json": (
        "4eecadfebbff08246b48cacc7fd7b79152417ce30c3a1b18641645a6607afe52"
    ),
}


@pytest.mark.parametrize(("name", "digest"), sorted(VECTORS.items()))
def test_vector_verifies(name: str, digest: str) -> None:
    body = (DATA / name).read_bytes()
    assert signature.sign(body, SECRET) == f"sha256 {digest}"
    assert signature.verify(body, f"sha256 {digest}", [SECRET])


def test_reserialized_body_does_not_verify() -> None:
    body = (DATA / "webhook-candidate_stage_change.json").read_bytes()
    reserialized = orjson.dumps(orjson.loads(body))
    expected_wrong = "616273227a0fbd27cc2a96aa82b007863f205afe93836388123503d0af054847"
    assert b"\\u003c" in body
    assert hmac.new(SECRET, reserialized, hashlib.sha256).hexdigest() == expected_wrong
    assert not signature.verify(reserialized, signature.sign(body, SECRET), [SECRET])


def test_either_rotated_secret_verifies() -> None:
    body = b'{"action":"ping","payload":{}}'
    header = signature.sign(body, b"new-secret")
    assert signature.verify(body, header, [b"old-secret", b"new-secret"])
    assert not signature.verify(body, header, [b"old-secret"])


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256",
        "sha256 ",
        "sha1 " + "0" * 64,
        "sha256 " + "z" * 64,
        "sha256 " + "0" * 63,
        "sha256 " + "0" * 64,
    ],
)
def test_malformed_header_rejected(header: str | None) -> None:
    assert not signature.verify(b"{}", header, [SECRET])


def test_header_case_and_spacing_tolerated() -> None:
    body = b"{}"
    digest = signature.sign(body, SECRET).split(" ")[1]
    assert signature.verify(body, f"SHA256 {digest.upper()} ", [SECRET])
