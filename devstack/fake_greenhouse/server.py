"""The fake's Starlette application and ``FakeGreenhouse``, which serves it from a thread.

``FakeGreenhouse`` is for tests: it binds a free loopback port, runs uvicorn in a background
thread and exposes the URLs and the shared ``FakeState``::

    with FakeGreenhouse(seed="demo") as fake:
        settings = fake.settings()
        ...
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self

import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devstack.fake_greenhouse.admin import ROUTES as ADMIN_ROUTES
from devstack.fake_greenhouse.admin import resolve_scopes
from devstack.fake_greenhouse.api import v3_endpoint
from devstack.fake_greenhouse.auth import introspect_endpoint, token_endpoint
from devstack.fake_greenhouse.seed import apply_seed
from devstack.fake_greenhouse.state import FakeState
from devstack.fake_greenhouse.webhooks import WebhookSender
from shared.settings import GreenhouseSettings

DEFAULT_CLIENT_ID = "greenguard-dev"
DEFAULT_CLIENT_SECRET = "greenguard-dev-secret"  # noqa: S105 (a fake credential for the fake)


class RequestCounter:
    """Counts requests outside ``/admin`` by (method, path) and responses by status."""

    def __init__(self, app: ASGIApp, state: FakeState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/admin"):
            await self.app(scope, receive, send)
            return
        with self.state.lock:
            self.state.request_counts[(scope["method"], scope["path"])] += 1

        async def send_counting_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                with self.state.lock:
                    self.state.status_counts[message["status"]] += 1
            await send(message)

        await self.app(scope, receive, send_counting_status)


def build_app(state: FakeState) -> Starlette:
    """Build the application serving ``state``."""
    sender = WebhookSender(state)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await sender.start()
        try:
            yield
        finally:
            await sender.stop()

    routes = [
        Route("/token", token_endpoint, methods=["POST"]),
        Route("/introspect", introspect_endpoint, methods=["POST"]),
        Route("/v3/{resource}", v3_endpoint, methods=["GET", "POST", "PATCH", "DELETE"]),
        Route(
            "/v3/{resource}/{record_id:int}",
            v3_endpoint,
            methods=["GET", "POST", "PATCH", "DELETE"],
        ),
        *ADMIN_ROUTES,
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, middleware=[Middleware(RequestCounter, state=state)]
    )
    app.state.fake = state
    app.state.webhooks = sender
    return app


class ThreadedServer:
    """Serves an ASGI app with uvicorn from a background thread on a free loopback port."""

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self, timeout_seconds: float = 10.0) -> None:
        """Start serving and return once the server accepts connections."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self._host, self._port))
        self.url = f"http://{self._host}:{listener.getsockname()[1]}"
        config = uvicorn.Config(
            self._app,
            log_config=None,
            access_log=False,
            lifespan="on",
            ws="none",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [listener]},
            name=f"uvicorn-{self.url}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_seconds
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                listener.close()
                raise RuntimeError(f"the server did not start on {self.url}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop the server and wait for its thread; safe to call twice."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None


class FakeGreenhouse:
    """A fake Greenhouse on a free loopback port, served from a background thread."""

    def __init__(
        self,
        *,
        seed: str = "empty",
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        scopes: Iterable[str] | str = "all",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.state = FakeState()
        self.client_id = client_id
        self.client_secret = client_secret
        self.state.add_client(
            client_id,
            client_secret,
            resolve_scopes(scopes if isinstance(scopes, str) else list(scopes)),
        )
        apply_seed(self.state, seed)
        self._server = ThreadedServer(build_app(self.state), host=host, port=port)
        self.url = ""

    def __repr__(self) -> str:
        return f"FakeGreenhouse(url={self.url!r})"

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    @property
    def introspect_url(self) -> str:
        return f"{self.url}/introspect"

    @property
    def api_url(self) -> str:
        return f"{self.url}/v3"

    @property
    def admin_url(self) -> str:
        return f"{self.url}/admin"

    def settings(self, **overrides: Any) -> GreenhouseSettings:
        """GreenhouseSettings pointing at this fake with its credential; overrides win."""
        values: dict[str, Any] = {
            "greenhouse_client_id": self.client_id,
            "greenhouse_client_secret": SecretStr(self.client_secret),
            "greenhouse_token_url": self.token_url,
            "greenhouse_introspect_url": self.introspect_url,
            "greenhouse_api_url": self.api_url,
            **overrides,
        }
        return GreenhouseSettings(**values)

    def start(self, timeout_seconds: float = 10.0) -> Self:
        """Start serving and return once the server accepts connections."""
        self._server.start(timeout_seconds)
        self.url = self._server.url
        return self

    def stop(self) -> None:
        """Stop the server; safe to call twice."""
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
