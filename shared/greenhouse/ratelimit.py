"""Pacing of Harvest requests under Greenhouse's per-credential rate limit.

Greenhouse counts requests in fixed 30-second windows and reports, on every response,
``X-RateLimit-Limit`` (requests per window), ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (epoch seconds when the window ends). The budget is shared by every
process using the same credential, so a process may be given a ``share`` of it: it stops
spending once the remaining count would fall below ``limit * (1 - share)``, leaving the rest to
the others. A caller over budget waits for the next window instead of failing.

Until the first response teaches the limit, one request at a time goes out as a probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Mapping

DEFAULT_WINDOW_SECONDS = 30.0
# Greenhouse's reset time has one-second resolution; start a little after it.
_RESET_SLACK_SECONDS = 0.05


class RateBudget:
    """The request budget of this process in the current rate-limit window.

    Call ``acquire()`` before each request and ``release(headers)`` after it, passing the
    response headers, or None when no response arrived. ``pause(seconds)`` delays every caller
    after a 429.
    """

    def __init__(
        self,
        share: float = 1.0,
        *,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share}")
        self.share = share
        self.window_seconds = window_seconds
        self._clock = clock
        self.limit: int | None = None
        # Estimated requests the whole credential may still send in this window.
        self.remaining = 0
        self.reset_at = 0.0
        self._paused_until = 0.0
        self._in_flight = 0
        self._changed = asyncio.Condition()

    def __repr__(self) -> str:
        return (
            f"RateBudget(share={self.share}, limit={self.limit}, remaining={self.remaining}, "
            f"in_flight={self._in_flight})"
        )

    @property
    def floor(self) -> float:
        """The remaining count this process leaves untouched for the other processes."""
        return (self.limit or 0) * (1 - self.share)

    async def acquire(self) -> None:
        """Wait until one request may be sent within the budget, then count it."""
        async with self._changed:
            while True:
                delay = self._delay_before_next()
                if delay == 0:
                    self._in_flight += 1
                    if self.limit is not None:
                        self.remaining -= 1
                    return
                # Woken by a release or a pause, or by the timeout when the window turns.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=delay)

    async def release(self, headers: Mapping[str, str] | None) -> None:
        """Mark one request as finished and learn from its response headers, if any."""
        async with self._changed:
            self._in_flight -= 1
            if headers is not None:
                self._observe(headers)
            self._changed.notify_all()

    async def pause(self, seconds: float) -> None:
        """Delay every caller for ``seconds`` (a 429's ``Retry-After``).

        The remaining count is left as the 429's own headers set it, so that callers resume
        after the pause when the window still has room.
        """
        async with self._changed:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
            self._changed.notify_all()

    def _delay_before_next(self) -> float | None:
        """Return 0 when a request may go now, else seconds to wait (None: until notified)."""
        now = self._clock()
        if now < self._paused_until:
            return self._paused_until - now
        if self.limit is None:
            return 0.0 if self._in_flight == 0 else None
        if now >= self.reset_at:
            # A new window: assume it is fresh until a response reports otherwise.
            self.reset_at = self._next_reset(now)
            self.remaining = self.limit
        if self.remaining - 1 >= self.floor:
            return 0.0
        return self.reset_at - now + _RESET_SLACK_SECONDS

    def _next_reset(self, now: float) -> float:
        # Without a header, windows are assumed to follow each other from the last known reset.
        if self.reset_at <= 0:
            return now + self.window_seconds
        elapsed = now - self.reset_at
        return self.reset_at + (math.floor(elapsed / self.window_seconds) + 1) * self.window_seconds

    def _observe(self, headers: Mapping[str, str]) -> None:
        limit = _header_int(headers, "x-ratelimit-limit")
        remaining = _header_int(headers, "x-ratelimit-remaining")
        reset = _header_int(headers, "x-ratelimit-reset")
        if limit is None or remaining is None:
            return
        self.limit = limit
        if reset is None:
            self.remaining = min(self.remaining, remaining)
        elif reset > self.reset_at + _RESET_SLACK_SECONDS:
            # First response of a new window: requests still in flight may not be counted yet.
            self.reset_at = float(reset)
            self.remaining = remaining - self._in_flight
        elif reset > self._clock():
            # The same window, or an estimated reset the server now corrects. Responses
            # arrive out of order, so the lower count is the more recent one.
            self.reset_at = float(reset)
            self.remaining = min(self.remaining, remaining)
        # Otherwise the response belongs to a window that has already ended.


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None
