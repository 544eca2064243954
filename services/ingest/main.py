"""``greenguard ingest``: serve the Greenhouse webhook endpoint with uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

import uvicorn

from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from shared.errors import BrokerUnavailableError
from shared.health import QuietServer
from shared.kafka import Publisher, ensure_topics
from shared.logging import configure_logging, get_logger
from shared.topics import ALL_TOPICS

log = get_logger(__name__)

EX_UNAVAILABLE = 69  # sysexits.h: a service this program needs is unavailable


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default: INGEST_HOST, 0.0.0.0)")
    parser.add_argument("--port", type=int, help="TCP port (default: INGEST_PORT, 8080)")


def main(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.host:
        overrides["ingest_host"] = args.host
    if args.port is not None:
        overrides["ingest_port"] = args.port
    settings = IngestSettings.load(**overrides)
    configure_logging(settings.log_level, settings.log_format, service="ingest")
    return asyncio.run(_serve(settings))


async def _serve(settings: IngestSettings) -> int:
    # Connect before serving, so that an unreachable cluster is one clear line, not a traceback
    # from inside the server's lifespan.
    publisher = Publisher(settings)
    try:
        await ensure_topics(settings, ALL_TOPICS)
        await publisher.start()
    except BrokerUnavailableError as exc:
        log.error("ingest_start_failed", reason=str(exc))
        await publisher.stop()
        return EX_UNAVAILABLE
    config = uvicorn.Config(
        create_app(settings, publisher),
        host=settings.ingest_host,
        port=settings.ingest_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        proxy_headers=True,
    )
    server = QuietServer(config)
    loop = asyncio.get_running_loop()

    def request_stop(name: str) -> None:
        # Stop accepting, finish in-flight requests, then run the lifespan shutdown, which
        # flushes and closes the producer.
        log.info("shutdown_requested", signal=name)
        server.should_exit = True

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, request_stop, signum.name)
    await server.serve()
    return 0 if server.started else 1
