"""Counting Harvest requests for ``make bench``: the fake's request log, per-process metrics,
and poll cycles.

The fake Greenhouse counts every request outside ``/admin`` by method and path. Each
Greenguard process also exports ``greenguard_harvest_requests_total`` by endpoint, which shows
which process sent each request. Both are read while the stack is quiet, between two poll cycles.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from devstack.scenario import admin
from devstack.stack import Stack
from shared.greenhouse.client import endpoint_label

# Only the poller reads this endpoint while running, once per idle cycle of its job.
CYCLE_MARKER = "GET /v3/job_interviews"
TOKEN_ENDPOINT = "POST /token"  # noqa: S105 (a path, not a secret)
# A poll cycle's requests arrive in one burst; this much silence means the burst is over.
QUIET_SECONDS = 0.5
SAMPLE_SECONDS = 0.1


@dataclass(frozen=True)
class Snapshot:
    """Request counts at one quiet moment: the fake's by endpoint, and each process's."""

    at: float
    endpoints: Counter[str]
    processes: dict[str, Counter[str]]

    def cycles(self) -> int:
        return self.endpoints[CYCLE_MARKER]


def request_log(stack: Stack) -> Counter[str]:
    """Return the fake's request counts by endpoint label (``METHOD /v3/path/{id}``)."""
    counts: Counter[str] = Counter()
    for row in admin(stack, "GET", "requests")["counts"]:
        counts[endpoint_label(row["method"], row["path"])] += row["count"]
    return counts


def process_counts(stack: Stack, name: str) -> Counter[str]:
    """Return a process's Harvest requests by endpoint, all statuses together."""
    text = httpx.get(f"{stack.health_url(name)}/metrics", timeout=5).text
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name != "greenguard_harvest_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                counts[sample.labels["endpoint"]] += int(sample.value)
    return counts


def snapshot(stack: Stack, processes: tuple[str, ...]) -> Snapshot:
    return Snapshot(
        at=time.monotonic(),
        endpoints=request_log(stack),
        processes={name: process_counts(stack, name) for name in processes},
    )


def quiet_snapshot_after(
    stack: Stack, cycles: int, processes: tuple[str, ...], timeout: float = 120.0
) -> Snapshot:
    """Wait until ``cycles`` more poll cycles started and the fake went quiet; snapshot then."""
    deadline = time.monotonic() + timeout
    previous = request_log(stack)
    target = previous[CYCLE_MARKER] + cycles
    quiet_since = time.monotonic()
    while True:
        time.sleep(SAMPLE_SECONDS)
        current = request_log(stack)
        now = time.monotonic()
        if current != previous:
            previous, quiet_since = current, now
        elif current[CYCLE_MARKER] >= target and now - quiet_since >= QUIET_SECONDS:
            return snapshot(stack, processes)
        if now > deadline:
            raise TimeoutError(
                f"the poller did not complete {cycles} cycle(s) within {timeout} s; "
                f"see {stack.options.run_dir}/poller.log"
            )


def difference(later: Counter[str], earlier: Counter[str]) -> Counter[str]:
    """Return ``later - earlier`` keeping only positive counts."""
    return Counter({key: later[key] - earlier[key] for key in later if later[key] > earlier[key]})
