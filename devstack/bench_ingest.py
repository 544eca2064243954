"""The ingest section of ``make bench``: ingest against a bare Starlette app on the same server.

Both run under the same uvicorn settings and receive the same signed delivery from the load
generator (``devstack/loadgen.py``), which runs in its own process. A closed loop measures the
maximum throughput, then an open loop at a fixed offered rate measures latency. With ``profile=True``,
py-spy samples the ingest process during its maximum-throughput run and the CPU time is
summarized by function.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from devstack.bench_report import Row, cpu_seconds, peak_rss_mib, ratio
from devstack.broker import EmbeddedBroker, free_port
from devstack.processes import Child, greenguard_command, wait_for_http
from services.ingest.signature import sign

SAMPLE = Path(__file__).parent / "samples" / "webhooks" / "webhook-candidate_stage_change.json"
SECRET = "bench-webhook-secret"  # noqa: S105 (a fixed secret of the local benchmark)
PROFILE_RATE_HZ = 250


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


def start_profiler(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    """Start py-spy sampling ``pid`` for ``seconds`` into ``output`` (collapsed stacks)."""
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        raise RuntimeError("py-spy is missing: install the dev extra (make install)")
    command = [
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        str(PROFILE_RATE_HZ),
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(output),
    ]
    return subprocess.Popen(  # noqa: S603 (our own command line)
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def summarize_profile(path: Path, top: int = 15) -> dict[str, Any]:
    """Return the busiest functions of a py-spy raw profile, by samples where they ran last.

    Idle samples (the event loop waiting in ``select``) are not recorded by py-spy without
    ``--idle``, so the shares are shares of the CPU time of the process.
    """
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        own[stack.split(";")[-1]] += count
    return {
        "samples": total,
        "functions": [
            {"function": name, "share": round(count / total, 3)}
            for name, count in own.most_common(top)
        ],
    }


def bench_ingest(
    seconds: float, rate: float, run_dir: Path, *, profile_path: Path | None = None
) -> dict[str, Any]:
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
            profiler = None
            if name == "ingest" and profile_path is not None:
                assert ingest.process is not None
                profiler = start_profiler(ingest.process.pid, seconds, profile_path)
            process = ingest.process if name == "ingest" else baseline.process
            assert process is not None
            cpu_before = cpu_seconds(process.pid)
            results[name] = {"max_throughput": load(url, SAMPLE, seconds)}
            cpu_after = cpu_seconds(process.pid)
            if cpu_before is not None and cpu_after is not None:
                requests = results[name]["max_throughput"]["requests"]
                results[name]["cpu_ms_per_delivery"] = round(
                    (cpu_after - cpu_before) * 1000 / requests, 3
                )
            if profiler is not None:
                profiler.wait(timeout=seconds + 30)
            results[name]["fixed_rate"] = load(url, SAMPLE, seconds, rate=rate)
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
    if profile_path is not None and profile_path.exists():
        results["profile"] = {"path": str(profile_path), **summarize_profile(profile_path)}
    return results


def ingest_rows(ingest: dict[str, Any], offered_rate: float) -> list[Row]:
    """Return the rows of the ingest table: ingest, the bare Starlette app, their ratio."""
    rows: list[Row] = [("measure", "ingest", "bare Starlette", "ratio")]
    for label, path in (
        ("deliveries/s (32 connections)", ("max_throughput", "throughput_per_second")),
        ("server CPU ms per delivery", ("cpu_ms_per_delivery",)),
        (f"p50 ms at {offered_rate}/s", ("fixed_rate", "latency_ms", "p50")),
        (f"p99 ms at {offered_rate}/s", ("fixed_rate", "latency_ms", "p99")),
        ("peak RSS MiB", ("peak_rss_mib",)),
    ):
        values = []
        for name in ("ingest", "baseline"):
            value: Any = ingest[name]
            for part in path:
                value = value[part]
            values.append(value)
        rows.append((label, str(values[0]), str(values[1]), ratio(values[0], values[1])))
    return rows
