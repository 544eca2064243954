"""``make bench``: measure Greenguard on this machine and compare with baselines of the same run.

Sections:
- ingest: signed deliveries per second (closed loop) and p50/p99 latency at a fixed offered load,
  for ingest and for a bare Starlette app under the same uvicorn settings;
- memory: peak resident set size (VmHWM) of every process measured.

Results are printed as a table and written to ``bench-results/latest.json``. Every figure is shown
beside its baseline or is a ratio; absolute numbers depend on the machine, which the JSON records.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from devstack.broker import EmbeddedBroker, free_port
from devstack.processes import Child, greenguard_command, wait_for_http
from services.ingest.signature import sign

RESULTS = Path("bench-results")
SAMPLE = Path(__file__).parent / "samples" / "webhooks" / "webhook-candidate_stage_change.json"
SECRET = "bench-webhook-secret"  # noqa: S105 (a fixed secret of the local benchmark)


def peak_rss_mib(pid: int) -> float | None:
    """Return the peak resident set size of a running process in MiB (Linux only)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def machine() -> dict[str, Any]:
    memory_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    except OSError:
        pass
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def load(url: str, body_file: Path, seconds: float, *, rate: float | None = None) -> dict[str, Any]:
    """Run the load generator in its own process and return its JSON result."""
    command = [
        sys.executable,
        "-m",
        "devstack.loadgen",
        url,
        "--body-file",
        str(body_file),
        "--seconds",
        str(seconds),
        "--connections",
        "32" if rate is None else "16",
        "--header",
        "Content-Type: application/json",
        "--header",
        f"Signature: {sign(body_file.read_bytes(), SECRET.encode())}",
    ]
    if rate is not None:
        command += ["--rate", str(rate)]
    output = subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603
    result: dict[str, Any] = json.loads(output.stdout)
    return result


def bench_ingest(seconds: float, rate: float, run_dir: Path) -> dict[str, Any]:
    broker = EmbeddedBroker(log_path=run_dir / "bench-broker.log")
    broker.start()
    ingest_port, baseline_port = free_port(), free_port()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "GREENHOUSE_WEBHOOK_SECRET": SECRET,
        "LOG_LEVEL": "WARNING",
    }
    ingest = Child(
        "ingest",
        greenguard_command("ingest", "--host", "127.0.0.1", "--port", str(ingest_port)),
        env,
        run_dir / "bench-ingest.log",
    )
    baseline = Child(
        "baseline",
        [sys.executable, "-m", "devstack.bench_baseline", "--port", str(baseline_port)],
        {},
        run_dir / "bench-baseline.log",
    )
    results: dict[str, Any] = {}
    try:
        ingest.start()
        baseline.start()
        wait_for_http(f"http://127.0.0.1:{ingest_port}/readyz", child=ingest)
        time.sleep(0.5)  # baseline has no readiness route; give uvicorn a moment to bind
        for name, port in (("baseline", baseline_port), ("ingest", ingest_port)):
            url = f"http://127.0.0.1:{port}/webhooks/greenhouse"
            load(url, SAMPLE, 2.0)  # warm-up
            results[name] = {
                "max_throughput": load(url, SAMPLE, seconds),
                "fixed_rate": load(url, SAMPLE, seconds, rate=rate),
            }
        for name, child in (("ingest", ingest), ("baseline", baseline)):
            assert child.process is not None
            results[name]["peak_rss_mib"] = peak_rss_mib(child.process.pid)
        results["broker_peak_rss_mib"] = peak_rss_mib(broker.pid) if broker.pid else None
    finally:
        ingest.stop()
        baseline.stop()
        broker.stop()
    ingest_max = results["ingest"]["max_throughput"]["throughput_per_second"]
    baseline_max = results["baseline"]["max_throughput"]["throughput_per_second"]
    results["ingest_to_baseline_throughput"] = round(ingest_max / baseline_max, 3)
    return results


def print_table(report: dict[str, Any]) -> None:
    ingest = report["ingest"]
    rows = [("measure", "ingest", "bare Starlette", "ratio")]
    for label, path in (
        ("deliveries/s (32 connections)", ("max_throughput", "throughput_per_second")),
        (f"p50 ms at {report['offered_rate']}/s", ("fixed_rate", "latency_ms", "p50")),
        (f"p99 ms at {report['offered_rate']}/s", ("fixed_rate", "latency_ms", "p99")),
    ):
        values = []
        for name in ("ingest", "baseline"):
            value: Any = ingest[name]
            for part in path:
                value = value[part]
            values.append(value)
        ratio = round(values[0] / values[1], 2) if values[1] else "-"
        rows.append((label, str(values[0]), str(values[1]), str(ratio)))
    rows.append(
        (
            "peak RSS MiB",
            str(ingest["ingest"]["peak_rss_mib"]),
            str(ingest["baseline"]["peak_rss_mib"]),
            "-",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each load run")
    parser.add_argument(
        "--rate", type=float, default=300.0, help="offered load for the latency runs, per second"
    )
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    run_dir = Path(".run")
    run_dir.mkdir(exist_ok=True)
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "offered_rate": args.rate,
        "seconds_per_run": args.seconds,
    }
    report["ingest"] = bench_ingest(args.seconds, args.rate, run_dir)
    print_table(report)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"written to {RESULTS / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
