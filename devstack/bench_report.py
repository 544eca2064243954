"""Shared parts of ``make bench``: the machine description, memory readings and tables."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Row = tuple[str, ...]


def _status_mib(pid: int, field: str) -> float | None:
    """Return one ``kB`` field of ``/proc/PID/status`` in MiB, or None (Linux only)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def peak_rss_mib(pid: int) -> float | None:
    """Return the peak resident set size of a running process in MiB (Linux only)."""
    return _status_mib(pid, "VmHWM")


def rss_mib(pid: int) -> float | None:
    """Return the current resident set size of a running process in MiB (Linux only)."""
    return _status_mib(pid, "VmRSS")


def cpu_seconds(pid: int) -> float | None:
    """Return the CPU time (user and system) a running process has used, in seconds (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in brackets may contain spaces, so fields are counted after it.
    fields = stat.rpartition(")")[2].split()
    user_ticks, system_ticks = int(fields[11]), int(fields[12])
    return (user_ticks + system_ticks) / os.sysconf("SC_CLK_TCK")


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


def ratio(value: float | None, baseline: float | None) -> str:
    """Return ``value / baseline`` with two decimals, or ``-`` when either is missing or zero."""
    if not value or not baseline:
        return "-"
    return f"{value / baseline:.2f}"


def print_table(title: str, rows: Sequence[Sequence[Any]]) -> None:
    """Print a title and left-aligned columns; the first row is the header."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    print(f"\n{title}")
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
