"""Child processes of the development stack: start with an environment, stop on request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Child:
    """One ``greenguard`` (or other) child process whose output goes to a log file."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        output = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 (our own command lines)
            self.command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            start_new_session=True,  # Ctrl-C in the terminal reaches the orchestrator only
        )
        output.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 25.0) -> int | None:
        """Send SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; return the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def greenguard_command(*args: str) -> list[str]:
    """Return the command line that runs ``greenguard ARGS`` with this interpreter."""
    return [sys.executable, "-m", "shared.cli", *args]


def wait_for_http(url: str, timeout: float = 30.0, child: Child | None = None) -> None:
    """Wait until ``url`` responds 200; fail early if ``child`` exits meanwhile."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if child is not None and not child.running:
            raise RuntimeError(f"{child.name} exited during start-up; see {child.log_path}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not respond 200 within {timeout} s")
        time.sleep(0.1)
