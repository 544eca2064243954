"""The local Greenguard stack: broker, fake Greenhouse and the four processes, as children.

Used by ``make run`` and ``make demo``, the end-to-end tests, the fault suite and the benchmarks.
Everything listens on free loopback ports. With ``durable=True`` the broker stores its data in a
local S3-compatible server (moto), so that it can be killed and restarted without losing
topics, records or committed offsets, as an Apache Kafka broker would.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack.broker import EmbeddedBroker, free_port, wait_for_port
from devstack.processes import Child, greenguard_command, wait_for_http

WEBHOOK_SECRET = "local-webhook-secret"  # noqa: S105 (fixed secrets of the local stack)
LINK_SIGNING_KEY = "local-link-signing-key-of-the-dev-stack-only"  # at least 32 characters
CLIENT_ID = "greenguard-dev"
CLIENT_SECRET = "greenguard-dev-secret"  # noqa: S105
HR_TOKEN = "local-hr-token"  # noqa: S105
SERVICES = ("ingest", "poller", "enricher", "notifier")


@dataclass
class StackOptions:
    """Options of one local stack: which processes, which storage, which seed."""

    run_dir: Path = Path(".run")
    durable: bool = False
    seed: str = "demo"
    services: tuple[str, ...] = SERVICES
    fake_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    topic_partitions: int = 3


class Stack:
    """Start, inspect, break and stop the local stack."""

    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        run_dir = self.options.run_dir
        self._s3: Child | None = None
        self._s3_port = free_port()
        storage = "s3://tansu/" if self.options.durable else "memory://tansu/"
        self.broker = EmbeddedBroker(
            storage_engine=storage,
            extra_env=self._s3_env() if self.options.durable else {},
            log_path=run_dir / "broker.log",
        )
        self.fake_port = free_port()
        self.ingest_port = free_port()
        self.health_ports = {name: free_port() for name in SERVICES if name != "ingest"}
        self.children: dict[str, Child] = {}
        # Called once the broker and the fake run, before the Greenguard processes start.
        self.before_services: list[Callable[[Stack], None]] = []

    # Addresses and environment

    @property
    def fake_url(self) -> str:
        return f"http://127.0.0.1:{self.fake_port}"

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ingest_port}"

    def _s3_env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT": f"http://127.0.0.1:{self._s3_port}",
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "eu-west-2",
        }

    def service_env(self, name: str) -> dict[str, str]:
        """Return the environment of one Greenguard process."""
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap_servers,
            "KAFKA_ENABLE_IDEMPOTENCE": "false",  # the embedded broker lacks it
            "KAFKA_TOPIC_PARTITIONS": str(self.options.topic_partitions),
            "KAFKA_FETCH_MAX_WAIT_MS": "50",
            "KAFKA_SESSION_TIMEOUT_MS": "3000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "GREENHOUSE_CLIENT_ID": CLIENT_ID,
            "GREENHOUSE_CLIENT_SECRET": CLIENT_SECRET,
            "GREENHOUSE_TOKEN_URL": f"{self.fake_url}/token",
            "GREENHOUSE_INTROSPECT_URL": f"{self.fake_url}/introspect",
            "GREENHOUSE_API_URL": f"{self.fake_url}/v3",
            "GREENHOUSE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "GREENGUARD_LINK_BASE_URL": f"{self.ingest_url}/l",
            "GREENGUARD_LINK_SIGNING_KEY": LINK_SIGNING_KEY,
            "GREENGUARD_HR_TOKENS_FILE": str(self.options.run_dir.resolve() / "hr-tokens"),
            "SHUTDOWN_GRACE_SECONDS": "5",
            "LOG_FORMAT": "json",
            "POLLER_INTERVIEWS_INTERVAL_SECONDS": "2",
            "POLLER_SWEEP_INTERVAL_SECONDS": "10",
        }
        if name in self.health_ports:
            env["HEALTH_PORT"] = str(self.health_ports[name])
        env.update(self.options.env)
        return env

    def operator_env(self) -> dict[str, str]:
        """Return the environment for ``greenguard`` operator commands against this stack."""
        env = self.service_env("operator")
        env.pop("HEALTH_PORT", None)
        return env

    # Lifecycle

    def start(self) -> None:
        """Start everything and wait until each process is ready."""
        run_dir = self.options.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        for old_log in run_dir.glob("*.log"):
            old_log.unlink()  # each run starts with fresh logs; restarts within it append
        (run_dir / "hr-tokens").write_text(f"{HR_TOKEN} hr\n", encoding="utf-8")
        if self.options.durable:
            self._start_s3()
        self.broker.start()
        self._start_fake()
        for hook in self.before_services:
            hook(self)
        for name in self.options.services:
            self.start_service(name)
        for name in self.options.services:
            self.wait_ready(name)

    def _start_s3(self) -> None:
        moto = shutil.which("moto_server", path=str(Path(sys.executable).parent))
        if moto is None:
            raise RuntimeError("moto_server is missing: install the dev extra (make install)")
        self._s3 = Child(
            "s3",
            [moto, "-H", "127.0.0.1", "-p", str(self._s3_port)],
            {},
            self.options.run_dir / "s3.log",
        )
        self._s3.start()
        wait_for_port("127.0.0.1", self._s3_port, 20)
        httpx.put(f"http://127.0.0.1:{self._s3_port}/tansu", timeout=10).raise_for_status()

    def _start_fake(self) -> None:
        command = [
            sys.executable,
            "-m",
            "devstack.fake_greenhouse",
            "--port",
            str(self.fake_port),
            "--seed",
            self.options.seed,
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            # Greenhouse's example limit is 75 per 30 s; the local stack polls every 2 s.
            "--rate-limit",
            "300",
            *self.options.fake_args,
        ]
        fake = Child("fake-greenhouse", command, {}, self.options.run_dir / "fake-greenhouse.log")
        fake.start()
        self.children["fake-greenhouse"] = fake
        wait_for_port("127.0.0.1", self.fake_port, 20)

    def start_service(self, name: str) -> None:
        if name == "ingest":
            command = greenguard_command(
                "ingest", "--host", "127.0.0.1", "--port", str(self.ingest_port)
            )
        else:
            command = greenguard_command(name)
        child = Child(name, command, self.service_env(name), self.options.run_dir / f"{name}.log")
        child.start()
        self.children[name] = child

    def health_url(self, name: str) -> str:
        if name == "ingest":
            return self.ingest_url
        return f"http://127.0.0.1:{self.health_ports[name]}"

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        wait_for_http(f"{self.health_url(name)}/readyz", timeout=timeout, child=self.children[name])

    def kill_service(self, name: str) -> None:
        """SIGKILL one process, as a crash would."""
        child = self.children[name]
        if child.process is not None and child.process.poll() is None:
            os.kill(child.process.pid, signal.SIGKILL)
            child.process.wait()

    def restart_service(self, name: str) -> None:
        self.start_service(name)
        self.wait_ready(name)

    def restart_broker(self) -> None:
        """Kill the broker and start it again on the same port (and storage, when durable)."""
        self.broker.stop(kill=True)
        self.broker.start()

    def stop(self) -> dict[str, int | None]:
        """Stop every child with SIGTERM (in reverse order) and return their exit statuses."""
        statuses: dict[str, int | None] = {}
        for name in reversed(list(self.children)):
            statuses[name] = self.children[name].stop()
        self.broker.stop()
        if self._s3 is not None:
            self._s3.stop()
        return statuses
