"""Greenhouse webhook signatures: ``Signature: sha256 <hex>`` over the raw request body.

Greenhouse signs the bytes it sends, with ``<``, ``>`` and ``&`` escaped as ``\\u003c`` and the
like, so the digest must be computed over the raw body and never over re-serialized JSON.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

_SCHEME = "sha256"


def sign(body: bytes, secret: bytes) -> str:
    """Return the ``Signature`` header value Greenhouse would send for ``body``."""
    return f"{_SCHEME} {hmac.new(secret, body, hashlib.sha256).hexdigest()}"


def verify(body: bytes, header: str | None, secrets: Sequence[bytes]) -> bool:
    """Return whether ``header`` is a valid signature of ``body`` under any of ``secrets``.

    Every secret is tried, in constant time per comparison, so a rotation can keep the old and
    the new secret configured together.
    """
    if not header:
        return False
    scheme, _, digest = header.strip().partition(" ")
    digest = digest.strip().lower()
    if scheme.lower() != _SCHEME or len(digest) != 64:
        return False
    try:
        presented = bytes.fromhex(digest)
    except ValueError:
        return False
    valid = False
    for secret in secrets:
        expected = hmac.new(secret, body, hashlib.sha256).digest()
        valid |= hmac.compare_digest(expected, presented)
    return valid
