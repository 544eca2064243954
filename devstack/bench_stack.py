"""The sections of ``make bench`` that run the whole stack against a large fake organization.

- idle cycle: Harvest requests per poll cycle when nothing changes, for an organization of
  10,000 candidates beside one of 1 candidate;
- pipeline: time from an interview change in the fake Greenhouse to its protection note,
  beside the floor that polling sets by design;
- calls: Harvest requests per newly protected interview, by endpoint, beside what the design
  needs;
- memory: resident set size of every process just after start and at its peak.

Every poll job runs at the same interval (``cycle_seconds``), so that one cycle runs each job
once, as in the idle cost that docs/poller.md states.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from devstack.bench_harvest import (
    TOKEN_ENDPOINT,
    Snapshot,
    difference,
    quiet_snapshot_after,
)
from devstack.bench_report import peak_rss_mib, rss_mib
from devstack.scenario import admin, greenguard
from devstack.stack import SERVICES, Stack, StackOptions
from services.poller.polling import JOBS

PROTECTED_USER = "rosa.recruiter@globex-hiring.example"  # the large seed's recruiter
HARVEST_CLIENTS = ("poller", "enricher", "notifier")
PROTECTION_NOTE = "interview protection enabled"
NOTE_POLL_SECONDS = 0.05
# Requests of one idle run of every job, as docs/poller.md states: 10 windows, 2 for the sweep.
DOCUMENTED_IDLE_REQUESTS = 12

# Harvest requests that the design makes to protect one interview that was published before
# (so the poller has its candidate id) when it is the only change found in its poll cycle. The
# poll windows are the idle cost and are counted there. Users are cached and read once.
DESIGN_PER_INTERVIEW = {
    # The poller reads the changed interview's panel. The enricher reads the panels for the
    # candidate context, once for the interview event and once for the candidate event below.
    "GET /v3/interviewers": 3,
    # The enricher reads these for the candidate context, twice.
    "GET /v3/applications": 2,
    "GET /v3/interviews": 2,
    # The enricher reads the candidate before its custom field write and for the context,
    # twice. The notifier reads it before setting the status to Pending, already set.
    "GET /v3/candidates": 4,
    # The enricher writes the secure link and the status in one request.
    "PATCH /v3/candidates/{id}": 1,
    # The notifier writes the protection note.
    "POST /v3/notes": 1,
}
# The custom field writes change the candidate's updated_at, so the poller's next candidates
# window reports the candidate and the enricher refreshes its context a second time.
ECHO_PER_INTERVIEW = 4


def bench_options(run_dir: Path, candidates: int, cycle_seconds: float) -> StackOptions:
    intervals = {f"POLLER_{job.upper()}_INTERVAL_SECONDS": str(cycle_seconds) for job in JOBS}
    return StackOptions(
        run_dir=run_dir,
        seed="large",
        # The benchmark counts requests; a rate limit would only make the poller wait.
        fake_args=["--seed-candidates", str(candidates), "--rate-limit", "100000"],
        env=intervals,
    )


def start_stack(options: StackOptions) -> tuple[Stack, dict[str, float | None]]:
    """Start the stack with the protected user registered; return it and each process's RSS."""
    stack = Stack(options)
    stack.before_services.append(register_protected_user)
    try:
        stack.start()
    except BaseException:
        stack.stop()
        raise
    return stack, {name: rss_mib(pid) for name, pid in process_ids(stack).items()}


def register_protected_user(stack: Stack) -> None:
    greenguard(stack, "protected-users", "add", PROTECTED_USER)


def process_ids(stack: Stack) -> dict[str, int]:
    pids = {"broker": stack.broker.pid}
    for name in ("fake-greenhouse", *SERVICES):
        child = stack.children.get(name)
        pids[name] = child.process.pid if child is not None and child.process else None
    return {name: pid for name, pid in pids.items() if pid is not None}


def wait_steady(stack: Stack, timeout: float = 120.0) -> Snapshot:
    """Wait until two poll cycles in a row cost the same and the consumers sent nothing."""
    deadline = time.monotonic() + timeout
    earlier = quiet_snapshot_after(stack, 1, HARVEST_CLIENTS)
    previous_cost: Counter[str] | None = None
    while True:
        later = quiet_snapshot_after(stack, 1, HARVEST_CLIENTS)
        cost = difference(later.endpoints, earlier.endpoints)
        consumers_idle = all(
            later.processes[name] == earlier.processes[name] for name in ("enricher", "notifier")
        )
        if consumers_idle and cost == previous_cost:
            return later
        if time.monotonic() > deadline:
            raise TimeoutError(f"the stack did not reach an idle steady state in {timeout} s")
        earlier, previous_cost = later, cost


def measure_idle(stack: Stack, cycles: int) -> dict[str, Any]:
    """Count the Harvest requests of ``cycles`` idle poll cycles, by endpoint and process."""
    start = wait_steady(stack)
    end = quiet_snapshot_after(stack, cycles, HARVEST_CLIENTS)
    counted = end.cycles() - start.cycles()
    endpoints = difference(end.endpoints, start.endpoints)
    tokens = endpoints.pop(TOKEN_ENDPOINT, 0)
    return {
        "cycles": counted,
        "seconds": round(end.at - start.at, 1),
        "requests_per_cycle": round(sum(endpoints.values()) / counted, 2),
        "token_requests": tokens,
        "per_cycle_by_endpoint": {
            key: round(value / counted, 2) for key, value in sorted(endpoints.items())
        },
        "per_cycle_by_process": {
            name: round(
                sum(difference(end.processes[name], start.processes[name]).values()) / counted, 2
            )
            for name in HARVEST_CLIENTS
        },
        "documented_requests_per_cycle": DOCUMENTED_IDLE_REQUESTS,
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def protect_interviews(
    stack: Stack, count: int, cycle_seconds: float, rng: random.Random
) -> list[float]:
    """Make the protected user organize ``count`` upcoming interviews, one after the other.

    Each change waits a random part of a poll cycle first, so that changes fall at every point
    of the cycle. Returns, per interview, the seconds from the change to its protection note.
    """
    organizer = next(u["id"] for u in admin(stack, "GET", "users") if u["first_name"] == "Rosa")
    candidate_of = {a["id"]: a["candidate_id"] for a in admin(stack, "GET", "applications")}
    interviews = sorted(admin(stack, "GET", "interviews"), key=lambda i: i["id"])[:count]
    if len(interviews) < count:
        raise ValueError(f"the seed has {len(interviews)} upcoming interviews, {count} requested")
    latencies = []
    for interview in interviews:
        time.sleep(rng.uniform(0, cycle_seconds))
        candidate_id = candidate_of[interview["application_id"]]
        changed_at = time.perf_counter()
        admin(stack, "PATCH", f"interviews/{interview['id']}", {"organizer_id": organizer})
        wait_for_note(stack, candidate_id, timeout=30 + 5 * cycle_seconds)
        latencies.append(time.perf_counter() - changed_at)
    return latencies


def wait_for_note(stack: Stack, candidate_id: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        notes = admin(stack, "GET", f"candidates/{candidate_id}/notes")
        if any(PROTECTION_NOTE in str(note.get("body", "")).lower() for note in notes):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"no protection note for candidate {candidate_id} in {timeout} s")
        time.sleep(NOTE_POLL_SECONDS)


def measure_pipeline(
    stack: Stack, count: int, cycle_seconds: float, idle: dict[str, Any], seed: int = 7
) -> dict[str, Any]:
    """Protect ``count`` interviews; return their latencies and the Harvest requests they cost.

    The requests of the poll cycles that ran meanwhile are the idle cost measured before on
    the same stack (``idle``), so that cost times the cycles is subtracted.
    """
    start = wait_steady(stack)
    latencies = protect_interviews(stack, count, cycle_seconds, random.Random(seed))
    # Two more cycles: the poller reports the candidates that the custom field writes changed,
    # and the enricher refreshes their context.
    end = quiet_snapshot_after(stack, 2, HARVEST_CLIENTS)
    cycles = end.cycles() - start.cycles()
    endpoints = difference(end.endpoints, start.endpoints)
    tokens = endpoints.pop(TOKEN_ENDPOINT, 0)
    idle_cost = idle["per_cycle_by_endpoint"]
    caused = {
        key: max(0.0, endpoints[key] - cycles * idle_cost.get(key, 0.0))
        for key in sorted(set(endpoints) | set(DESIGN_PER_INTERVIEW))
    }
    by_process = {
        name: sum(difference(end.processes[name], start.processes[name]).values())
        for name in HARVEST_CLIENTS
    }
    by_process["poller"] -= round(cycles * idle["per_cycle_by_process"]["poller"])
    floor_ms = {
        "p50": cycle_seconds * 500,
        "p95": cycle_seconds * 950,
        "max": cycle_seconds * 1000,
        "mean": cycle_seconds * 500,
    }
    measured_ms = {
        "p50": percentile(latencies, 0.50) * 1000,
        "p95": percentile(latencies, 0.95) * 1000,
        "max": max(latencies) * 1000,
        "mean": sum(latencies) / len(latencies) * 1000,
    }
    fetch_wait_ms = int(stack.service_env("enricher")["KAFKA_FETCH_MAX_WAIT_MS"])
    return {
        "interviews": count,
        "poll_interval_seconds": cycle_seconds,
        # Two consumer hops (enricher, notifier), each waiting at most this long for a fetch.
        "fetch_max_wait_ms_per_hop": fetch_wait_ms,
        "latency_ms": {key: round(value) for key, value in measured_ms.items()},
        "poll_wait_floor_ms": {key: round(value) for key, value in floor_ms.items()},
        "calls": {
            "cycles_during_section": cycles,
            "token_requests": tokens,
            "per_interview_by_endpoint": {
                key: round(value / count, 2) for key, value in caused.items() if value
            },
            "per_interview_total": round(sum(caused.values()) / count, 2),
            "per_interview_by_process": {
                name: round(value / count, 2) for name, value in by_process.items()
            },
            "design_by_endpoint": DESIGN_PER_INTERVIEW,
            "design_total": sum(DESIGN_PER_INTERVIEW.values()),
            "design_echo_part": ECHO_PER_INTERVIEW,
        },
    }


def memory(stack: Stack, at_start: dict[str, float | None]) -> dict[str, dict[str, Any]]:
    """Return each process's RSS just after start and its peak RSS so far, in MiB."""
    return {
        name: {"rss_after_start_mib": at_start.get(name), "peak_rss_mib": peak_rss_mib(pid)}
        for name, pid in process_ids(stack).items()
    }


def bench_large(
    run_dir: Path, candidates: int, cycle_seconds: float, idle_cycles: int, interviews: int
) -> dict[str, Any]:
    """Run the idle, pipeline and memory sections on one stack seeded with ``candidates``."""
    stack, at_start = start_stack(bench_options(run_dir, candidates, cycle_seconds))
    try:
        idle = measure_idle(stack, idle_cycles)
        pipeline = measure_pipeline(stack, interviews, cycle_seconds, idle)
        return {
            "candidates": candidates,
            "idle_cycle": idle,
            "pipeline": pipeline,
            "memory": memory(stack, at_start),
        }
    finally:
        stack.stop()


def bench_small(run_dir: Path, cycle_seconds: float, idle_cycles: int) -> dict[str, Any]:
    """Run the idle section on a 1-candidate organization, the baseline of the large one."""
    stack, _ = start_stack(bench_options(run_dir, 1, cycle_seconds))
    try:
        return {"candidates": 1, "idle_cycle": measure_idle(stack, idle_cycles)}
    finally:
        stack.stop()
