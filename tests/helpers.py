"""Small helpers for tests that wait on conditions instead of sleeping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]],
    timeout: float = 15.0,
    message: str = "condition",
    *,
    interval: float = 0.02,
) -> None:
    """Poll ``condition`` every ``interval`` seconds until it is true.

    Raises TimeoutError naming ``message`` after ``timeout`` seconds, which fails the test.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {message}")
        await asyncio.sleep(interval)
