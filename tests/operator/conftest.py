"""Running the ``greenguard`` console script against the test's broker and topic prefix."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

GREENGUARD = Path(sys.executable).parent / "greenguard"


def cli_environment(kafka_options: dict[str, Any]) -> dict[str, str]:
    """Return the environment that points the console script at the test's broker."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_options["kafka_bootstrap_servers"],
        "KAFKA_TOPIC_PREFIX": kafka_options["kafka_topic_prefix"],
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "KAFKA_FETCH_MAX_WAIT_MS": "20",
        "OPERATOR_TIMEOUT_SECONDS": "10",
    }


@dataclass(frozen=True)
class Completed:
    """The outcome of one ``greenguard`` run."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def greenguard(kafka_options: dict[str, Any]) -> Callable[..., Awaitable[Completed]]:
    """Run ``greenguard ARGS...`` to completion, with ``env`` overriding variables."""

    async def run(
        *args: str, timeout: float = 60.0, env: dict[str, str] | None = None
    ) -> Completed:
        process = await asyncio.create_subprocess_exec(
            str(GREENGUARD),
            *args,
            env={**cli_environment(kafka_options), **(env or {})},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(timeout):
            stdout, stderr = await process.communicate()
        assert process.returncode is not None
        return Completed(process.returncode, stdout.decode(), stderr.decode())

    return run
