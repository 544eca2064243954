"""Process lifecycle for the long-running services: signals, health server, orderly shutdown.

On SIGTERM or SIGINT the worker is asked to stop: it stops fetching, finishes or abandons its
in-flight work within ``SHUTDOWN_GRACE_SECONDS`` without committing unfinished records, closes
its clients, and the process logs one summary line and exits 0. An unexpected error is logged
once, here, and the process exits 1 so that the orchestrator restarts it.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from shared.errors import GreenguardError
from shared.health import Health, HealthServer
from shared.logging import configure_logging, get_logger
from shared.settings import HealthSettings

log = get_logger(__name__)


class Worker(Protocol):
    """What ``run_worker`` drives: ``run`` returns once ``stop`` was called and work drained."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


def run_worker(
    service: str,
    settings: HealthSettings,
    build: Callable[[Health], Awaitable[Worker]],
) -> int:
    """Run one worker process until a signal stops it; return the exit status."""
    configure_logging(settings.log_level, settings.log_format, service=service)
    return asyncio.run(_serve(service, settings, build))


async def _serve(
    service: str, settings: HealthSettings, build: Callable[[Health], Awaitable[Worker]]
) -> int:
    started = time.monotonic()
    health = Health(stall_seconds=settings.liveness_stall_seconds)
    server = HealthServer(health, settings.health_host, settings.health_port)
    await server.start()
    log.info("service_starting", health_port=server.port)
    worker: Worker | None = None
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()

    def request_stop(signame: str) -> None:
        if stop_requested.is_set():
            return
        log.info("shutdown_requested", signal=signame)
        stop_requested.set()
        if worker is not None:
            worker.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, request_stop, signum.name)
    status = 0
    try:
        worker = await build(health)
        if stop_requested.is_set():
            worker.stop()
        await worker.run()
    except GreenguardError as exc:
        log.error("service_failed", error=type(exc).__name__, reason=str(exc))
        status = 1
    except Exception:
        log.exception("service_crashed")
        status = 1
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await server.stop()
        log.info(
            "service_stopped",
            service=service,
            exit_status=status,
            uptime_seconds=round(time.monotonic() - started, 1),
        )
    return status
