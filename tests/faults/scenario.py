"""The fault scenario: load the whole stack, break it on a schedule, then collect what landed.

``run_scenario`` drives a started ``devstack.stack.Stack`` (durable broker) through this plan,
each step gated on how many webhook deliveries have finished, never on a fixed sleep:

    10 %  broker killed; restarted once deliveries have received 503
    25 %  enricher SIGKILLed while it has uncommitted records, then restarted
    40 %  Greenhouse returns 429, 500 and slow responses in bursts; every token is revoked
    55 %  notifier SIGKILLed halfway through a burst of alerts, then restarted
    70 %  broker killed and restarted again

The sender does not start the deliveries of the next step until the previous step is over, so
every fault happens while deliveries are flowing, however slow the machine.

Alerts (duplicates and a few poisoned records among them) are published throughout. Afterwards
it waits until the pipeline has settled and returns an ``Outcome`` for the tests to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from devstack.processes import greenguard_command
from devstack.stack import SERVICES, WEBHOOK_SECRET, Stack
from shared.errors import BrokerUnavailableError
from shared.kafka import Publisher, read_to_end
from shared.operator.common import ClusterReader, OperatorSettings, PartitionLag
from shared.operator.lag import gather_lag
from shared.topics import DEAD_LETTER, PROTECTED_MEETINGS, VERIFICATION_ALERTS, topic_name
from tests.faults.sender import DeliveryCounts, RedeliveringSender
from tests.faults.workload import (
    CANDIDATE_TOPIC,
    ORG_TOPIC,
    AlertPlan,
    Seeded,
    SuiteSettings,
    build_deliveries,
    merge_plans,
    plan_alerts,
    poisoned_alerts,
    seed_interviews,
    seed_people,
)
from tests.helpers import wait_until

# The suite polls less often than unit tests, to leave the two cores to the stack.
wait_for = functools.partial(wait_until, interval=0.1)

GROUPS = ("greenguard-enricher", "greenguard-notifier")
# The share of deliveries started when each fault step of the module docstring begins.
STEP_SHARES = (0.10, 0.25, 0.40, 0.55, 0.70)
REFERENCE = re.compile(r"^Greenguard alert id: (.+)$", re.MULTILINE)
# Greenhouse responses slower than the services' GREENHOUSE_TIMEOUT_SECONDS (3 s here).
SLOWER_THAN_TIMEOUT_SECONDS = 5.0


@dataclass
class DeadLetter:
    """One record of the dead-letter topic, with the headers the pipeline added."""

    value: bytes | None
    headers: dict[str, str]


@dataclass
class Outcome:
    """Everything the tests check, and the counts the report shows."""

    settings: SuiteSettings
    seeded: Seeded
    deliveries: DeliveryCounts
    alerts: AlertPlan
    event_ids: dict[str, set[str]] = field(default_factory=dict)
    protected_records: dict[int, dict[str, Any]] = field(default_factory=dict)
    notes: list[dict[str, Any]] = field(default_factory=list)
    custom_fields: dict[int, dict[str, Any]] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    lag: dict[str, list[PartitionLag]] = field(default_factory=dict)
    in_flight: dict[str, float] = field(default_factory=dict)
    retries: dict[str, float] = field(default_factory=dict)
    settled: bool = False
    exit_statuses: dict[str, int | None] = field(default_factory=dict)
    faults: Counter[str] = field(default_factory=Counter)
    fake_statuses: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    # (service, exit status) of every exit the scenario did not cause.
    unplanned_exits: list[tuple[str, int | None]] = field(default_factory=list)

    def notes_by_alert(self) -> Counter[str]:
        """Count the notes carrying each alert id in their reference line."""
        found: Counter[str] = Counter()
        for note in self.notes:
            for alert_id in REFERENCE.findall(str(note.get("body") or "")):
                found[alert_id] += 1
        return found


class Scenario:
    """One run of the plan in the module docstring against a started stack."""

    def __init__(self, stack: Stack, settings: SuiteSettings) -> None:
        self.stack = stack
        self.settings = settings
        env = stack.operator_env()
        self.kafka = OperatorSettings.load(
            kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
            kafka_enable_idempotence=False,
            kafka_fetch_max_wait_ms=50,
            kafka_publish_timeout_seconds=3.0,
            operator_timeout_seconds=60.0,
        )
        self.admin = httpx.AsyncClient(base_url=stack.fake_url, timeout=30.0)
        self.sender = RedeliveringSender(f"{stack.ingest_url}/webhooks/greenhouse", WEBHOOK_SECRET)
        self.publisher = Publisher(self.kafka)
        self.faults: Counter[str] = Counter()
        self.timings: dict[str, float] = {}
        self._steps_done = 0
        self._step_finished = asyncio.Event()
        self._killed_on_purpose: set[str] = set()
        self.unplanned_exits: list[tuple[str, int | None]] = []
        self._started = time.monotonic()

    # The run

    async def run(self) -> Outcome:
        """Seed, load, break, settle and collect; the caller stops the stack afterwards."""
        # The suite's own clients would log every refused connection while the broker is down.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        seeded = await asyncio.to_thread(self._seed)
        deliveries = build_deliveries(self.settings, seeded)
        stream = plan_alerts(self.settings.alerts, seeded)
        stream.poisoned = poisoned_alerts()
        burst = plan_alerts(
            self.settings.alert_burst, seeded, start=self.settings.alerts, with_status=False
        )
        await self.publisher.start()
        supervisor = asyncio.create_task(self._supervise(), name="supervisor")
        try:
            self._mark("load_started")
            await asyncio.gather(
                self.sender.send_all(deliveries, self.settings.delivery_rate, self._hold),
                self._publish_stream(stream, len(deliveries) / self.settings.delivery_rate),
                self._break_things(len(deliveries), burst),
            )
            self._mark("load_finished")
            plan = merge_plans(stream, burst)
            settled = await self._settle(seeded, plan)
            self._mark("settled")
            outcome = await self._collect(seeded, plan)
            outcome.settled = settled
        finally:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
            await self.publisher.stop()
            await self.admin.aclose()
        outcome.unplanned_exits = self.unplanned_exits
        return outcome

    def _mark(self, name: str) -> None:
        self.timings[name] = round(time.monotonic() - self._started, 1)

    def _seed(self) -> Seeded:
        with httpx.Client(base_url=self.stack.fake_url, timeout=30.0) as admin:
            seeded = seed_people(admin, self.settings)
            # Protected users go in through the operator command, before any interview exists.
            result = subprocess.run(
                greenguard_command("protected-users", "add", *seeded.protected_emails),
                env={**os.environ, **self.stack.operator_env()},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(f"protected-users add failed: {result.stderr}")
            seed_interviews(admin, self.settings, seeded)
        return seeded

    async def _publish_stream(self, plan: AlertPlan, seconds: float) -> None:
        """Publish the planned alerts spread over ``seconds``, poisoned records among them."""
        records = list(plan.records)
        step = max(len(records) // (len(plan.poisoned) + 1), 1)
        for number, value in enumerate(plan.poisoned, start=1):
            records.insert(number * step + number - 1, ("poisoned", value))
        loop = asyncio.get_running_loop()
        started = loop.time()
        for index, (key, value) in enumerate(records):
            due = started + seconds * index / len(records)
            if due > loop.time():
                await asyncio.sleep(due - loop.time())  # pacing of the stream, not a wait
            await self._publish_alert(key, value)

    async def _publish_alert(self, key: str, value: bytes) -> None:
        """Publish until Kafka acknowledges, as the verification platform would."""
        deadline = time.monotonic() + 120
        while True:
            try:
                await self.publisher.publish(VERIFICATION_ALERTS, key, value)
                return
            except BrokerUnavailableError:
                self.faults["alert_publish_retries"] += 1
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    # The faults

    async def _break_things(self, total: int, burst: AlertPlan) -> None:
        steps: list[Callable[[], Awaitable[None]]] = [
            self._broker_outage,
            self._kill_enricher_mid_batch,
            self._greenhouse_faults,
            lambda: self._kill_notifier_mid_burst(burst),
            self._broker_outage,
        ]
        for number, (share, step) in enumerate(zip(STEP_SHARES, steps, strict=True)):
            await wait_for(
                lambda share=share: self.sender.started >= share * total,
                timeout=600,
                message=f"{share:.0%} of the deliveries to start",
            )
            await step()
            self._steps_done = number + 1
            self._step_finished.set()

    async def _hold(self, index: int) -> None:
        """Keep the sender from starting the next step's deliveries before this step is over."""
        total = self.settings.deliveries
        while self._steps_done < len(STEP_SHARES):
            next_share = (
                STEP_SHARES[self._steps_done + 1]
                if self._steps_done + 1 < len(STEP_SHARES)
                else 1.0
            )
            if index < next_share * total:
                return
            self._step_finished.clear()
            await self._step_finished.wait()

    async def _broker_outage(self) -> None:
        """Kill the broker, wait until deliveries get 503, then start it on the same storage."""
        counts = self.sender.counts
        before = counts.statuses["503"]
        await asyncio.to_thread(self.stack.broker.stop, kill=True)
        self._mark(f"broker_killed_{self.faults['broker_restarts'] + 1}")
        await wait_for(
            lambda: counts.statuses["503"] >= before + 20,
            timeout=60,
            message="deliveries that received 503 while the broker is down",
        )
        await asyncio.to_thread(self.stack.broker.start)
        self.faults["broker_restarts"] += 1

    async def _kill_enricher_mid_batch(self) -> None:
        lag = await wait_for_value(
            lambda: self._group_lag("greenguard-enricher"),
            accept=lambda value: value > 0,
            timeout=60,
            message="the enricher to have uncommitted records",
        )
        self.faults["enricher_lag_at_kill"] = lag
        await self._kill_and_restart("enricher")

    async def _kill_notifier_mid_burst(self, burst: AlertPlan) -> None:
        """Publish a burst of alerts and SIGKILL the notifier once part of it has notes."""
        for key, value in burst.records:
            await self._publish_alert(key, value)
        noted = await wait_for_value(
            lambda: self._count_notes(burst.valid_ids),
            accept=lambda value: value >= 5,
            timeout=300,
            message="the notifier to write the first notes of the burst",
        )
        self.faults["burst_notes_at_kill"] = noted
        self.faults["burst_alerts"] = len(burst.valid_ids)
        await self._kill_and_restart("notifier")

    async def _kill_and_restart(self, name: str) -> None:
        self._killed_on_purpose.add(name)
        await asyncio.to_thread(self.stack.kill_service, name)
        self.faults[f"{name}_kills"] += 1
        self._mark(f"{name}_killed")
        self.stack.start_service(name)
        self._killed_on_purpose.discard(name)
        await wait_for(lambda: self._ready(name), timeout=300, message=f"{name} to be ready again")
        self._mark(f"{name}_ready_again")

    async def _ready(self, name: str) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                response = await client.get(f"{self.stack.health_url(name)}/readyz")
        except httpx.HTTPError:
            return False
        # The notifier reports ready once its Greenhouse check passed, before its consumer
        # exists. A restarted worker counts as back only when it consumes again.
        checks = response.json().get("checks", {})
        return response.status_code == 200 and checks.get("consumer", name == "poller") is True

    async def _supervise(self) -> None:
        """Start again any service that exited unasked, as Kubernetes would, and record it."""
        while True:
            for name in SERVICES:
                child = self.stack.children.get(name)
                if child is None or child.running or name in self._killed_on_purpose:
                    continue
                status = child.process.returncode if child.process is not None else None
                self.unplanned_exits.append((name, status))
                self.stack.start_service(name)
            await asyncio.sleep(0.5)  # the polling period of a supervisor

    async def _greenhouse_faults(self) -> None:
        """Queue bursts of 429, 500 and slow responses on Harvest, then revoke every token."""
        bursts = [
            ("429", {"path_prefix": "/v3/", "count": 40, "status": 429, "retry_after": 1}),
            ("500", {"path_prefix": "/v3/", "count": 40, "status": 500}),
            ("slow", {"path_prefix": "/v3/", "count": 30, "delay_seconds": 1.0}),
            (
                "slower_than_timeout",
                {
                    "path_prefix": "/v3/notes",
                    "method": "POST",
                    "count": 3,
                    "delay_seconds": SLOWER_THAN_TIMEOUT_SECONDS,
                },
            ),
        ]
        for name, fault in bursts:
            response = await self.admin.post("/admin/faults", json=fault)
            response.raise_for_status()
            self.faults[f"greenhouse_{name}_queued"] += fault["count"]
        response = await self.admin.post("/admin/tokens/revoke")
        response.raise_for_status()
        self.faults["token_revocations"] += 1
        await wait_for(
            self._faults_consumed, timeout=120, message="the Greenhouse faults to be consumed"
        )

    async def _faults_consumed(self) -> bool:
        response = await self.admin.get("/admin/faults")
        return response.status_code == 200 and response.json() == []

    # Observations

    async def _group_lag(self, group: str) -> int:
        lag = await gather_lag(self.kafka, [group])
        return sum(row.lag for rows in lag.values() for row in rows)

    async def _notes(self) -> list[dict[str, Any]]:
        response = await self.admin.get("/admin/notes")
        response.raise_for_status()
        notes: list[dict[str, Any]] = response.json()
        return notes

    async def _count_notes(self, alert_ids: set[str]) -> int:
        notes = await self._notes()
        return sum(
            1
            for note in notes
            for alert_id in REFERENCE.findall(str(note.get("body") or ""))
            if alert_id in alert_ids
        )

    async def _settle(self, seeded: Seeded, plan: AlertPlan) -> bool:
        """Wait until every expected note exists and both groups have no lag."""
        expected_notes = len(plan.valid_ids) + len(seeded.protected_interviews)

        async def settled() -> bool:
            try:
                notes = await self._notes()
                if len(notes) < expected_notes:
                    return False
                return all([await self._group_lag(group) == 0 for group in GROUPS])
            except (httpx.HTTPError, BrokerUnavailableError):
                return False

        timeout = float(os.environ.get("FAULTS_SETTLE_SECONDS", 300))
        try:
            await wait_for(settled, timeout=timeout, message="the pipeline to settle")
        except TimeoutError as exc:
            print(f"fault suite: {exc}", file=sys.stderr)
            return False
        return True

    async def _collect(self, seeded: Seeded, plan: AlertPlan) -> Outcome:
        outcome = Outcome(self.settings, seeded, self.sender.counts, plan)
        for topic in (CANDIDATE_TOPIC, ORG_TOPIC):
            records = await read_to_end(self.kafka, topic, timeout_seconds=600)
            outcome.event_ids[topic] = {
                orjson.loads(value)["id"] for _key, value, _p, _o in records if value
            }
        for key, value, _p, _o in await read_to_end(self.kafka, PROTECTED_MEETINGS):
            document = orjson.loads(value) if value else {}
            if key is not None and document.get("type") == "interview.protected":
                outcome.protected_records[int(key)] = document
        outcome.notes = await self._notes()
        for candidate_id in seeded.candidate_ids:
            response = await self.admin.get(f"/admin/candidates/{candidate_id}/custom_fields")
            response.raise_for_status()
            outcome.custom_fields[candidate_id] = response.json()
        outcome.dead_letters = await self._dead_letters()
        outcome.lag = await gather_lag(self.kafka, list(GROUPS))
        for name in ("enricher", "notifier"):
            metrics = await self._metrics(name)
            outcome.in_flight[name] = metrics.get("greenguard_records_in_flight", 0.0)
            outcome.retries[name] = metrics.get("greenguard_record_retries_total", 0.0)
        response = await self.admin.get("/admin/requests")
        outcome.fake_statuses = response.json()["statuses"]
        outcome.faults = self.faults
        outcome.timings = self.timings
        return outcome

    async def _dead_letters(self) -> list[DeadLetter]:
        async with ClusterReader(self.kafka, 60) as reader:
            records = await reader.read_topic(topic_name(DEAD_LETTER))
        return [
            DeadLetter(
                record.value,
                {key: value.decode("utf-8", "replace") for key, value in record.headers or ()},
            )
            for record in records
        ]

    async def _metrics(self, name: str) -> dict[str, float]:
        """Sum each metric family of a service over its labels."""
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"{self.stack.health_url(name)}/metrics")
        totals: dict[str, float] = {}
        for line in response.text.splitlines():
            if not line or line.startswith("#"):
                continue
            metric, _, value = line.rpartition(" ")
            family = metric.split("{", 1)[0]
            totals[family] = totals.get(family, 0.0) + float(value)
        return totals


async def wait_for_value(
    probe: Callable[[], Awaitable[int]],
    *,
    accept: Callable[[int], bool],
    timeout: float,
    message: str,
) -> int:
    """Return the first value of ``probe`` that ``accept`` takes, polling every 100 ms."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {message}")
        await asyncio.sleep(0.1)
