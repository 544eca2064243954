"""Liveness, readiness and metrics for every worker process.

``Health`` is the state: the worker calls ``beat()`` each time its loop makes progress and
``set_ready(name, bool)`` for each dependency. ``serve_health`` exposes it over HTTP:

    GET /healthz  200 while the loop beat within LIVENESS_STALL_SECONDS, else 503
    GET /readyz   200 when every readiness check is true, else 503 with the failing names
    GET /metrics  Prometheus text format
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class Health:
    """Progress and readiness of one process."""

    def __init__(self, stall_seconds: float = 120.0) -> None:
        self._stall_seconds = stall_seconds
        self._last_beat = time.monotonic()
        self._ready: dict[str, bool] = {}
        self._reasons: dict[str, str] = {}

    def beat(self) -> None:
        """Record that the worker's loop made progress just now."""
        self._last_beat = time.monotonic()

    def set_ready(self, name: str, ready: bool, reason: str = "") -> None:
        """Set one readiness check; ``reason`` explains a false one on /readyz."""
        self._ready[name] = ready
        if reason:
            self._reasons[name] = reason
        else:
            self._reasons.pop(name, None)

    @property
    def alive(self) -> bool:
        return time.monotonic() - self._last_beat < self._stall_seconds

    @property
    def ready(self) -> bool:
        return bool(self._ready) and all(self._ready.values())

    def liveness(self) -> dict[str, Any]:
        return {
            "alive": self.alive,
            "seconds_since_progress": round(time.monotonic() - self._last_beat, 1),
        }

    def readiness(self) -> dict[str, Any]:
        failing = {
            name: self._reasons.get(name, "not ready") for name, ok in self._ready.items() if not ok
        }
        return {"ready": self.ready, "checks": dict(self._ready), "failing": failing}


def health_routes(health: Health) -> list[Route]:
    """Return the /healthz, /readyz and /metrics routes, for mounting in any Starlette app."""

    async def healthz(_request: Request) -> Response:
        body = health.liveness()
        return JSONResponse(body, status_code=200 if body["alive"] else 503)

    async def readyz(_request: Request) -> Response:
        body = health.readiness()
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the process that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HealthServer:
    """Serve the health routes with uvicorn inside the worker's own event loop."""

    def __init__(self, health: Health, host: str, port: int) -> None:
        config = uvicorn.Config(
            Starlette(routes=health_routes(health)),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self._server = QuietServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(), name="health-server")
        while not self._server.started:
            if self._task.done():
                await self._task  # re-raises the bind error
                raise RuntimeError("health server stopped during start-up")
            await asyncio.sleep(0.01)

    @property
    def port(self) -> int:
        sockets = self._server.servers[0].sockets if self._server.servers else []
        return int(sockets[0].getsockname()[1]) if sockets else 0

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._task = None
