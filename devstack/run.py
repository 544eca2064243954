"""``make run``: the whole stack on embedded defaults, with sample traffic.

Starts the embedded broker and the ingest service, posts signed sample webhook deliveries and
prints what landed in Kafka, then keeps running until Ctrl-C. Logs of every child process go to
``.run/<name>.log``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path

import httpx

from devstack.broker import EmbeddedBroker, free_port
from devstack.processes import Child, greenguard_command, wait_for_http
from services.ingest.signature import sign
from shared.events import Envelope
from shared.kafka import read_to_end
from shared.settings import KafkaSettings
from shared.topics import CANDIDATE_EVENTS, ORG_EVENTS

SAMPLES = Path(__file__).parent / "samples" / "webhooks"
RUN_DIR = Path(".run")
WEBHOOK_SECRET = "demo-webhook-secret"  # noqa: S105 (a fixed secret of the local demo stack)


def say(message: str) -> None:
    """Print one line of the account of what happens, with the time."""
    print(f"{time.strftime('%H:%M:%S')}  {message}", flush=True)


class Stack:
    """The embedded broker and the Greenguard processes of one ``make run``."""

    def __init__(self) -> None:
        self.broker = EmbeddedBroker(log_path=RUN_DIR / "broker.log")
        self.ingest_port = free_port()
        self.children: list[Child] = []

    @property
    def kafka_env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap_servers,
            "KAFKA_ENABLE_IDEMPOTENCE": "false",  # the embedded broker lacks it
            "KAFKA_FETCH_MAX_WAIT_MS": "50",
            "LOG_FORMAT": "json",
        }

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ingest_port}"

    def start(self) -> None:
        RUN_DIR.mkdir(exist_ok=True)
        self.broker.start()
        say(f"broker listening on {self.broker.bootstrap_servers} (memory storage)")
        ingest = Child(
            "ingest",
            greenguard_command("ingest", "--host", "127.0.0.1", "--port", str(self.ingest_port)),
            {**self.kafka_env, "GREENHOUSE_WEBHOOK_SECRET": WEBHOOK_SECRET},
            RUN_DIR / "ingest.log",
        )
        ingest.start()
        self.children.append(ingest)
        wait_for_http(f"{self.ingest_url}/readyz", child=ingest)
        say(f"ingest ready on {self.ingest_url}/webhooks/greenhouse")

    def stop(self) -> None:
        for child in reversed(self.children):
            status = child.stop()
            say(f"{child.name} stopped (exit status {status})")
        self.broker.stop()
        say("broker stopped")


def post_samples(stack: Stack) -> int:
    """Post every sample delivery, signed as Greenhouse signs; return how many got 200."""
    accepted = 0
    with httpx.Client(base_url=stack.ingest_url, timeout=10) as client:
        for path in sorted(SAMPLES.glob("*.json")):
            body = path.read_bytes()
            response = client.post(
                "/webhooks/greenhouse",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "Signature": sign(body, WEBHOOK_SECRET.encode()),
                    "Greenhouse-Event-ID": f"demo-{path.stem}",
                },
            )
            action = path.stem.removeprefix("webhook-")
            say(f"webhook {action:<28} -> HTTP {response.status_code}")
            accepted += response.status_code == 200
    return accepted


async def print_landed(stack: Stack) -> int:
    """Print one line per event on the Greenhouse topics; return the number of events."""
    settings = KafkaSettings.load(**{k.lower(): v for k, v in stack.kafka_env.items()})
    count = 0
    for spec in (CANDIDATE_EVENTS, ORG_EVENTS):
        for key, value, partition, offset in await read_to_end(settings, spec):
            envelope = Envelope.from_json(value)
            say(
                f"landed {spec.name}[{partition}]@{offset} key={key} type={envelope.type} "
                f"candidate_id={envelope.candidate_id}"
            )
            count += 1
    return count


def wait_for_ctrl_c() -> None:
    say("running; press Ctrl-C to stop")
    stopped = False

    def handle(_signum: int, _frame: object) -> None:
        nonlocal stopped
        stopped = True

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    while not stopped:
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Greenguard stack locally.")
    parser.add_argument(
        "--demo", action="store_true", help="play the scenario, check it, print a summary, exit"
    )
    args = parser.parse_args(argv)
    stack = Stack()
    status = 0
    try:
        stack.start()
        posted = post_samples(stack)
        landed = asyncio.run(print_landed(stack))
        expected = len(list(SAMPLES.glob("*.json"))) - 1  # the ping publishes nothing
        ok = posted == expected + 1 and landed == expected
        say(f"summary: {posted} deliveries accepted, {landed} events landed (expected {expected})")
        status = 0 if ok else 1
        if not args.demo:
            wait_for_ctrl_c()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
