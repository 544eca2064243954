"""``make bench``: measure Greenguard on this machine and compare with baselines of the same run.

Sections:
- ingest: signed deliveries per second (closed loop) and p50/p99 latency at a fixed offered load,
  for ingest and for a bare Starlette app under the same uvicorn settings
  (``devstack/bench_ingest.py``);
- pipeline, calls, idle cycle and memory: the whole stack against a fake organization of 10,000
  candidates, and the idle cycle again against 1 candidate (``devstack/bench_stack.py``).

Results are printed as tables and written to ``bench-results/latest.json``. Every figure is shown
beside its baseline or is a ratio; absolute numbers depend on the machine, which the JSON records.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from devstack.bench_ingest import bench_ingest, ingest_rows
from devstack.bench_report import Row, machine, print_table, ratio
from devstack.bench_stack import bench_large, bench_small

RESULTS = Path("bench-results")
SECTIONS = ("ingest", "stack")


def pytest_processes() -> list[str]:
    """Return the command lines of pytest processes running now, which disturb the numbers."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue  # the process ended meanwhile
        line = b" ".join(args).decode(errors="replace").strip()
        if "pytest" in line:
            found.append(line)
    return found


def pipeline_rows(pipeline: dict[str, Any]) -> list[Row]:
    interval = pipeline["poll_interval_seconds"]
    rows: list[Row] = [
        ("latency, change to note", "measured ms", f"poll wait, {interval} s interval", "ratio")
    ]
    for key in ("p50", "p95", "max", "mean"):
        measured, floor = pipeline["latency_ms"][key], pipeline["poll_wait_floor_ms"][key]
        rows.append((key, str(measured), str(floor), ratio(measured, floor)))
    return rows


def calls_rows(calls: dict[str, Any]) -> list[Row]:
    measured, design = calls["per_interview_by_endpoint"], calls["design_by_endpoint"]
    rows: list[Row] = [("Harvest endpoint", "measured per interview", "by design")]
    for endpoint in sorted(set(measured) | set(design)):
        rows.append((endpoint, str(measured.get(endpoint, 0)), str(design.get(endpoint, 0))))
    rows.append(("total", str(calls["per_interview_total"]), str(calls["design_total"])))
    rows.append(("token requests (whole section)", str(calls["token_requests"]), "0"))
    for name, value in calls["per_interview_by_process"].items():
        rows.append((f"  sent by {name}", str(value), "-"))
    return rows


def idle_rows(large: dict[str, Any], small: dict[str, Any]) -> list[Row]:
    rows: list[Row] = [
        (
            "Harvest endpoint",
            f"{large['candidates']:,} candidates",
            f"{small['candidates']} candidate",
            "ratio",
        )
    ]
    large_idle, small_idle = large["idle_cycle"], small["idle_cycle"]
    endpoints = set(large_idle["per_cycle_by_endpoint"]) | set(small_idle["per_cycle_by_endpoint"])
    for endpoint in sorted(endpoints):
        values = [
            idle["per_cycle_by_endpoint"].get(endpoint, 0) for idle in (large_idle, small_idle)
        ]
        rows.append((endpoint, str(values[0]), str(values[1]), ratio(values[0], values[1])))
    totals = [idle["requests_per_cycle"] for idle in (large_idle, small_idle)]
    rows.append(("requests per cycle", str(totals[0]), str(totals[1]), ratio(*totals)))
    documented = str(large_idle["documented_requests_per_cycle"])
    rows.append(("stated in docs/poller.md", documented, documented, "1.00"))
    rows.append(("cycles measured", str(large_idle["cycles"]), str(small_idle["cycles"]), "-"))
    return rows


def memory_rows(report: dict[str, Any]) -> list[Row]:
    rows: list[Row] = [("process", "RSS after start MiB", "peak RSS MiB", "ratio")]
    for name, values in report["stack"]["large"]["memory"].items():
        start, peak = values["rss_after_start_mib"], values["peak_rss_mib"]
        rows.append((name, str(start), str(peak), ratio(peak, start)))
    if "ingest" in report:
        ingest = report["ingest"]
        rows.append(
            (
                "ingest under webhook load (vs bare Starlette)",
                str(ingest["baseline"]["peak_rss_mib"]),
                str(ingest["ingest"]["peak_rss_mib"]),
                ratio(ingest["ingest"]["peak_rss_mib"], ingest["baseline"]["peak_rss_mib"]),
            )
        )
    return rows


def print_report(report: dict[str, Any]) -> None:
    if "ingest" in report:
        print_table("ingest", ingest_rows(report["ingest"], report["offered_rate"]))
    if "stack" in report:
        large, small = report["stack"]["large"], report["stack"]["small"]
        pipeline = large["pipeline"]
        print_table(
            f"pipeline: {pipeline['interviews']} interviews newly protected, one at a time",
            pipeline_rows(pipeline),
        )
        print_table("Harvest requests per newly protected interview", calls_rows(pipeline["calls"]))
        print_table(
            "Harvest requests per idle poll cycle (every job once)", idle_rows(large, small)
        )
        print_table(f"memory ({large['candidates']:,} candidates)", memory_rows(report))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each load run")
    parser.add_argument(
        "--rate", type=float, default=300.0, help="offered load for the latency runs, per second"
    )
    parser.add_argument(
        "--candidates", type=int, default=10_000, help="candidates of the large organization"
    )
    parser.add_argument(
        "--interviews", type=int, default=20, help="interviews protected in the pipeline section"
    )
    parser.add_argument(
        "--idle-cycles", type=int, default=5, help="idle poll cycles counted per organization"
    )
    parser.add_argument(
        "--cycle-seconds", type=float, default=2.0, help="interval of every poll job, in seconds"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="shorter runs (3 s loads, 5 interviews, 3 idle cycles), for trying the benchmark",
    )
    parser.add_argument(
        "--only", choices=SECTIONS, help="run only the ingest section or only the stack sections"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample ingest with py-spy during its maximum-throughput run "
        "(bench-results/ingest-profile.txt)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.seconds, args.interviews, args.idle_cycles = 3.0, 5, 3

    RESULTS.mkdir(exist_ok=True)
    run_dir = Path(".run")
    run_dir.mkdir(exist_ok=True)
    started = time.monotonic()
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "command": " ".join(["python -m devstack.bench", *(argv or sys.argv[1:])]),
        "offered_rate": args.rate,
        "seconds_per_run": args.seconds,
        "pytest_processes_at_start": pytest_processes(),
    }

    if args.only in (None, "ingest"):
        profile = RESULTS / "ingest-profile.txt" if args.profile else None
        report["ingest"] = bench_ingest(args.seconds, args.rate, run_dir, profile_path=profile)
    if args.only in (None, "stack"):
        report["stack"] = {
            "large": bench_large(
                run_dir / "bench-large",
                args.candidates,
                args.cycle_seconds,
                args.idle_cycles,
                args.interviews,
            ),
            "small": bench_small(run_dir / "bench-small", args.cycle_seconds, args.idle_cycles),
        }

    report["pytest_processes_at_end"] = pytest_processes()
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    print_report(report)
    if report["pytest_processes_at_start"] or report["pytest_processes_at_end"]:
        print("\nNOTE: pytest was running during the benchmark; the numbers may be disturbed.")
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"written to {RESULTS / 'latest.json'} in {report['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
