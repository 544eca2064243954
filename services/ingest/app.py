"""The ingest HTTP application: Greenhouse webhooks in, normalized events out to Kafka.

    POST /webhooks/greenhouse   verify, normalize, publish, then respond 200
    GET  /healthz               the process is serving
    GET  /readyz                the Kafka cluster responded to a metadata request recently
    GET  /metrics               Prometheus text format
    GET  /l/{token}             secure interview links (when link signing keys are configured)
    GET  /api/interviews        upcoming protected interviews, for HR tokens (when configured)

A delivery receives 200 only after Kafka acknowledged the write with acks=all; when the
broker is down or slow it gets 503 and Greenhouse's retries (about 15 hours) become the buffer.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import orjson
from prometheus_client import Counter, Histogram
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from services.ingest import signature
from services.ingest.mapping import PING_ACTION, ROUTES, normalize
from services.ingest.settings import IngestSettings
from shared.errors import BrokerUnavailableError, InvalidEventError
from shared.events import isoformat, utc_now
from shared.health import Health, health_routes
from shared.kafka import Publisher, ensure_topics
from shared.logging import get_logger
from shared.topics import ALL_TOPICS

log = get_logger(__name__)

WEBHOOK_PATH = "/webhooks/greenhouse"
MAX_EVENT_ID_LENGTH = 200

DELIVERIES = Counter(
    "greenguard_webhook_deliveries_total",
    "Webhook deliveries by action and outcome.",
    ["action", "outcome"],
)
SIGNATURE_FAILURES = Counter(
    "greenguard_webhook_signature_failures_total",
    "Webhook deliveries rejected because the signature was missing or wrong.",
)
PUBLISH_SECONDS = Histogram(
    "greenguard_webhook_publish_seconds",
    "Time from a verified delivery to Kafka's acknowledgement.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class _BodyTooLarge(Exception):
    pass


@dataclass
class IngestState:
    """State shared by the request handlers: created in the lifespan, closed once."""

    settings: IngestSettings
    secrets: list[bytes]
    publisher: Publisher
    health: Health
    ready_checked_at: float = 0.0


def _error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _BodyTooLarge
    return bytes(body)


def _event_id(request: Request) -> str | None:
    """Return the Greenhouse-Event-ID header when it is a sane identifier, else None."""
    value = request.headers.get("greenhouse-event-id", "").strip()
    if not value or len(value) > MAX_EVENT_ID_LENGTH or not value.isprintable():
        return None
    return value


async def receive_webhook(request: Request) -> Response:
    """Verify one delivery and publish it; see the module docstring for the statuses."""
    state: IngestState = request.app.state.ingest
    limit = state.settings.webhook_max_body_bytes
    try:
        body = await _read_body(request, limit)
    except ClientDisconnect:
        DELIVERIES.labels("", "client_disconnected").inc()
        log.warning("webhook_client_disconnected", reason="body_incomplete")
        return _error(400, "body_incomplete", "the client closed the connection mid-body")
    except _BodyTooLarge:
        DELIVERIES.labels("", "too_large").inc()
        log.warning("webhook_rejected", reason="body_too_large", limit_bytes=limit)
        return _error(413, "body_too_large", f"request body is larger than {limit} bytes")

    if not signature.verify(body, request.headers.get("signature"), state.secrets):
        SIGNATURE_FAILURES.inc()
        DELIVERIES.labels("", "invalid_signature").inc()
        log.warning("webhook_rejected", reason="invalid_signature", body_bytes=len(body))
        return _error(
            401,
            "invalid_signature",
            "missing or invalid Signature header: expected 'sha256 <hex HMAC-SHA256 of the body>'",
        )

    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        DELIVERIES.labels("", "malformed").inc()
        log.warning("webhook_rejected", reason="invalid_json", body_bytes=len(body))
        return _error(400, "invalid_json", "request body is not valid JSON")
    action = document.get("action") if isinstance(document, dict) else None
    if not isinstance(action, str) or not action.strip():
        DELIVERIES.labels("", "malformed").inc()
        log.warning("webhook_rejected", reason="missing_action")
        return _error(400, "missing_action", "request body has no 'action' string")

    metric_action = action if action in ROUTES or action == PING_ACTION else "unknown"
    if action == PING_ACTION:
        DELIVERIES.labels(metric_action, "ping").inc()
        log.info("webhook_ping_received")
        return JSONResponse({"status": "ok", "published": False})

    delivery = normalize(
        body, document, event_id=_event_id(request), received_at=isoformat(utc_now())
    )
    envelope = delivery.envelope
    try:
        value = envelope.to_json()
    except InvalidEventError as exc:
        DELIVERIES.labels(metric_action, "malformed").inc()
        log.warning("webhook_rejected", reason="unserializable_payload", error=str(exc))
        return _error(400, "unsupported_payload", "the payload is nested too deeply to store")
    started = time.perf_counter()
    try:
        partition, offset = await state.publisher.publish(
            delivery.topic, delivery.key, value, envelope.kafka_headers()
        )
    except BrokerUnavailableError as exc:
        DELIVERIES.labels(metric_action, "broker_unavailable").inc()
        log.error("webhook_publish_failed", action=action, event_id=envelope.id, reason=str(exc))
        return _error(503, "broker_unavailable", "event store unavailable, retry later")
    PUBLISH_SECONDS.observe(time.perf_counter() - started)
    DELIVERIES.labels(metric_action, "published").inc()
    log.info(
        "webhook_published",
        action=action,
        type=envelope.type,
        event_id=envelope.id,
        candidate_id=envelope.candidate_id,
        partition=partition,
        offset=offset,
    )
    return JSONResponse({"status": "ok", "published": True, "id": envelope.id})


async def readyz(request: Request) -> Response:
    """Return 200 while the Kafka cluster responds; the result is cached for a moment."""
    state: IngestState = request.app.state.ingest
    now = time.monotonic()
    if now - state.ready_checked_at >= state.settings.readiness_cache_seconds:
        connected = await state.publisher.is_connected()
        state.health.set_ready("kafka", connected, "" if connected else "Kafka unreachable")
        state.ready_checked_at = now
    body = state.health.readiness()
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


def _optional_routes(
    settings: IngestSettings, publisher: Publisher
) -> tuple[list[BaseRoute], list[Callable[[], AbstractAsyncContextManager[None]]]]:
    """Return the routes enabled by configuration and the lifespans they need."""
    routes: list[BaseRoute] = []
    lifespans: list[Callable[[], AbstractAsyncContextManager[None]]] = []
    keys = settings.link_signing_keys()
    if keys:
        from services.ingest.links import link_routes

        routes.extend(link_routes(keys, publisher))
    if settings.greenguard_hr_tokens_file is not None:
        from services.ingest.interviews_api import interview_routes

        api_routes, api_lifespan = interview_routes(settings)
        routes.extend(api_routes)
        lifespans.append(api_lifespan)
    return routes, lifespans


def create_app(settings: IngestSettings, publisher: Publisher | None = None) -> Starlette:
    """Build the application; the lifespan creates topics and starts the one producer."""
    secrets = settings.webhook_secrets()  # fails fast on a missing secret
    producer = publisher or Publisher(settings)
    health = Health()
    state = IngestState(settings=settings, secrets=secrets, publisher=producer, health=health)

    optional_routes, optional_lifespans = _optional_routes(settings, producer)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await ensure_topics(settings, ALL_TOPICS)
        await producer.start()
        health.set_ready("kafka", True)
        app.state.ingest = state
        async with AsyncExitStack() as stack:
            for optional in optional_lifespans:
                await stack.enter_async_context(optional())
            log.info("ingest_started", max_body_bytes=settings.webhook_max_body_bytes)
            try:
                yield
            finally:
                await producer.stop()
                log.info("ingest_stopped")

    liveness_and_metrics = [r for r in health_routes(health) if r.path != "/readyz"]
    routes: list[BaseRoute] = [
        Route(WEBHOOK_PATH, receive_webhook, methods=["POST"]),
        Route("/readyz", readyz, methods=["GET"]),
        *liveness_and_metrics,
        *optional_routes,
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={Exception: _unexpected_error},
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # A bug, not bad input: respond with the documented error shape, and Greenhouse retries.
    log.error("request_failed", path=request.url.path, error=type(exc).__name__)
    return _error(500, "internal_error", "unexpected error; the delivery was not stored")
