"""structlog set-up: JSON lines on stdout, with the standard library's loggers routed through it.

aiokafka, httpx and uvicorn log through the standard library; ``configure_logging`` sends their
records through the same processors so every line is one JSON object. Event names are fixed
snake_case phrases and ids go in keys. Payloads, tokens and candidate personal data are never
logged; ``redact_secrets`` is a last line of defence for keys whose names mark them as secret.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEY_PARTS = ("secret", "token", "password", "authorization", "signature", "api_key")
_REDACTED = "[redacted]"


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replace the value of any key whose name looks like a secret."""
    for key in list(event_dict):
        lowered = key.lower()
        if any(part in lowered for part in _SECRET_KEY_PARTS) and not lowered.endswith("_count"):
            event_dict[key] = _REDACTED
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "json", service: str | None = None) -> None:
    """Configure structlog and the standard library's root logger once per process."""
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    if service:
        shared_processors.insert(0, _bind_service(service))

    renderer: Any
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    else:
        renderer = structlog.processors.JSONRenderer()

    structlog.configure(
        processors=[
            *shared_processors,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)

    # uvicorn installs its own handlers unless configured otherwise; route them to the root.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Access lines repeat what the request metrics count, and httpx logs each URL at INFO.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(max(logging.getLevelName(level), logging.INFO))


def _bind_service(service: str) -> Any:
    def add_service(
        _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    return add_service


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """Return a structlog logger named after the module."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
