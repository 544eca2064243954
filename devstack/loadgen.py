"""An HTTP/1.1 load generator for the benchmarks, run as its own process.

Keep-alive connections over asyncio streams, so that the generator costs little next to the
server it measures. Two modes:

- ``--rate R``: open loop, R requests per second spread over the connections, for
  ``--seconds``. A late server makes requests queue, which shows in the latency, because
  latency counts from the intended send time (no coordinated omission).
- without ``--rate``: closed loop. Each connection sends its next request when the previous
  response arrived, which measures the maximum throughput.

Prints one JSON object: requests, statuses, errors, duration, throughput and latency
percentiles in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson


def build_request(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one response and return its status; the body is drained by Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    length = 0
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


async def run(
    url: str,
    body: bytes,
    headers: dict[str, str],
    connections: int,
    seconds: float,
    rate: float | None,
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = build_request(f"{host}:{port}", parts.path or "/", body, headers)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    started = time.perf_counter()
    deadline = started + seconds
    interval = connections / rate if rate else 0.0

    async def connection(index: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        intended = started + (index / rate if rate else 0.0)
        try:
            while True:
                now = time.perf_counter()
                if rate:
                    if intended > now:
                        await asyncio.sleep(intended - now)
                    send_time = intended
                    intended += interval
                else:
                    send_time = now
                if send_time >= deadline:
                    return
                writer.write(request)
                try:
                    status = await read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                latencies.append(time.perf_counter() - send_time)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(connection(i) for i in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "errors": errors,
        "seconds": round(elapsed, 3),
        "throughput_per_second": round(len(latencies) / elapsed, 1),
        "offered_rate_per_second": rate,
        "connections": connections,
        "latency_ms": {
            "p50": round(percentile(latencies, 0.50) * 1000, 2),
            "p99": round(percentile(latencies, 0.99) * 1000, 2),
            "max": round((latencies[-1] if latencies else 0.0) * 1000, 2),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="POST one body repeatedly and measure.")
    parser.add_argument("url")
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--header", action="append", default=[], help="NAME: VALUE")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, help="requests per second (open loop)")
    args = parser.parse_args(argv)
    headers = dict(
        (name.strip(), value.strip())
        for name, _, value in (item.partition(":") for item in args.header)
    )
    result = asyncio.run(
        run(
            args.url,
            args.body_file.read_bytes(),
            headers,
            args.connections,
            args.seconds,
            args.rate,
        )
    )
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
