"""``make run`` and ``make demo``: the whole stack on embedded defaults, with a scenario.

Starts the embedded broker, the fake Greenhouse (demo organization) and the four Greenguard
processes, then plays the scenario of ``devstack.scenario`` while printing what happens:
interviews protected with their secure links, custom fields set, notes written, alerts
delivered. ``make run`` keeps running until Ctrl-C; ``make demo`` checks the effects, prints a
summary and exits 0 or 1. Logs of every child process go to ``.run/<name>.log``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
import time
from typing import Any

import orjson

from devstack import scenario
from devstack.stack import HR_TOKEN, Stack, StackOptions
from shared.kafka import read_to_end
from shared.settings import KafkaSettings
from shared.topics import DEAD_LETTER, PROTECTED_MEETINGS, VERIFICATION_ALERTS

DEMO_DEADLINE_SECONDS = 120.0


def say(message: str) -> None:
    """Print one line of the account of what happens, with the time."""
    print(f"{time.strftime('%H:%M:%S')}  {message}", flush=True)


class Reporter(threading.Thread):
    """Print new protection events, alerts, dead letters, notes and field values each second."""

    def __init__(self, stack: Stack, people: scenario.DemoPeople) -> None:
        super().__init__(name="reporter", daemon=True)
        self._stack = stack
        self._people = people
        self._seen_records: set[tuple[str, int, int]] = set()
        self._seen_notes: set[int] = set()
        self._fields: dict[tuple[int, str], Any] = {}
        self._names = {cid: name for name, cid in people.candidates.items()}
        self.stopping = threading.Event()

    def run(self) -> None:
        settings = KafkaSettings.load(
            kafka_bootstrap_servers=self._stack.broker.bootstrap_servers,
            kafka_enable_idempotence=False,
        )
        while not self.stopping.wait(1.0):
            try:
                asyncio.run(self._report_topics(settings))
                self._report_greenhouse()
            except Exception as exc:  # noqa: BLE001 (the account is best effort; keep going)
                say(f"(reporter could not read the state: {type(exc).__name__})")

    async def _report_topics(self, settings: KafkaSettings) -> None:
        for spec in (PROTECTED_MEETINGS, VERIFICATION_ALERTS, DEAD_LETTER):
            for _key, value, partition, offset in await read_to_end(settings, spec):
                marker = (spec.name, partition, offset)
                if marker in self._seen_records or value is None:
                    continue
                self._seen_records.add(marker)
                self._describe(spec.name, orjson.loads(value) if spec is not DEAD_LETTER else {})

    def _describe(self, topic: str, record: dict[str, Any]) -> None:
        if topic == DEAD_LETTER.name:
            say("dead letter written (see: greenguard dlq list)")
            return
        name = self._names.get(record.get("candidate_id") or 0, "?")
        if record.get("type") == "interview.protected":
            say(
                f"interview {record['interview_id']} ({name}) protected on {record.get('provider')}: "
                f"secure link {record.get('secure_url')}"
            )
        elif record.get("type") == "interview.unprotected":
            say(f"interview {record['interview_id']} unprotected ({record.get('reason')})")
        elif record.get("type") == "interview.link_opened":
            say(f"secure link of interview {record.get('interview_id')} opened")
        elif "kind" in record:
            say(f"alert {record['kind']} for {name} delivered to the alert topic")

    def _report_greenhouse(self) -> None:
        for name, candidate_id in self._people.candidates.items():
            for note in scenario.admin(self._stack, "GET", f"candidates/{candidate_id}/notes"):
                if note["id"] not in self._seen_notes:
                    self._seen_notes.add(note["id"])
                    title = str(note.get("body", "")).splitlines()[0]
                    say(f"note written on {name} in Greenhouse: {title}")
            fields = scenario.admin(self._stack, "GET", f"candidates/{candidate_id}/custom_fields")
            for key in (scenario.STATUS_FIELD, scenario.LINK_FIELD):
                value = (fields.get(key) or {}).get("value")
                if value is not None and self._fields.get((candidate_id, key)) != value:
                    self._fields[(candidate_id, key)] = value
                    say(f"custom field {key} of {name} set to {value}")


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def wait_for_ctrl_c() -> None:
    say("running; press Ctrl-C to stop")
    while True:
        time.sleep(1.0)


def play(stack: Stack, reporter_box: list[Reporter], pause: float) -> scenario.DemoPeople:
    people = scenario.look_up(stack)
    reporter = Reporter(stack, people)
    reporter.start()
    reporter_box.append(reporter)
    scenario.post_samples(stack, say)
    time.sleep(pause)
    scenario.change_interviews(stack, people, say, pause)
    time.sleep(pause)
    scenario.send_alerts(stack, people, say)
    return people


def verify(stack: Stack, people: scenario.DemoPeople) -> bool:
    """Wait until every expected effect is true or the deadline passes; print the summary."""
    deadline = time.monotonic() + DEMO_DEADLINE_SECONDS
    while True:
        rows = scenario.check_effects(stack, people)
        if all(passed for _name, _check, passed in rows) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    print()
    print("summary")
    for name, check, passed in rows:
        print(f"  {'ok  ' if passed else 'FAIL'}  {name:<5} {check}")
    failed = sum(not passed for _n, _c, passed in rows)
    print(f"  {len(rows) - failed} of {len(rows)} checks passed")
    return failed == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Greenguard stack locally.")
    parser.add_argument(
        "--demo", action="store_true", help="play the scenario, check it, print a summary, exit"
    )
    parser.add_argument(
        "--pause", type=float, default=15.0, help="seconds between the scenario's steps"
    )
    args = parser.parse_args(argv)
    # Ctrl-C and SIGTERM stop everything cleanly at any point, also when the shell started this
    # process with SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    # The account shows what happens; the Kafka client's own connection errors during the
    # shutdown would only hide it.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    stack = Stack(StackOptions())
    reporters: list[Reporter] = []
    # Protected users registered before the processes start protect the demo interviews at
    # their first poll, instead of at the re-sweep that a later change triggers.
    stack.before_services.append(lambda running: scenario.protect_users(running, say))
    status = 0
    try:
        say("starting the broker, the fake Greenhouse and the four processes (logs in .run/)")
        stack.start()
        say(f"fake Greenhouse at {stack.fake_url} (admin API under /admin)")
        say(f"ingest at {stack.ingest_url}/webhooks/greenhouse")
        say(
            "on-call tools, from another terminal: "
            f"export KAFKA_BOOTSTRAP_SERVERS={stack.broker.bootstrap_servers} "
            "KAFKA_ENABLE_IDEMPOTENCE=false; .venv/bin/greenguard status"
        )
        say(
            f"HR view: curl -H 'Authorization: Bearer {HR_TOKEN}' {stack.ingest_url}/api/interviews"
        )
        people = play(stack, reporters, pause=args.pause if not args.demo else min(args.pause, 5.0))
        if args.demo:
            status = 0 if verify(stack, people) else 1
        else:
            wait_for_ctrl_c()
    except KeyboardInterrupt:
        pass
    finally:
        say("stopping")
        for reporter in reporters:
            reporter.stopping.set()
            reporter.join(timeout=5)
        for name, code in stack.stop().items():
            say(f"{name} stopped (exit status {code})")
    return status


if __name__ == "__main__":
    sys.exit(main())
