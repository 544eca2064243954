"""Helpers shared by the fake Greenhouse's own tests."""

from __future__ import annotations

from collections.abc import Callable

# Mints a token for the fake's client; keyword arguments become extra form fields (``sub``).
Mint = Callable[..., str]
