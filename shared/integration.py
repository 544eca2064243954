"""The connection check every Greenhouse-facing worker runs at start and then periodically.

After each check ``IntegrationWatch`` publishes the report to ``greenguard.integration-state``
under ``connect:<service>`` (what ``greenguard status`` prints), sets the ``greenhouse``
readiness check (missing scopes or rejected credentials make the process not ready) and the
``greenguard_integration_connected{service}`` gauge (what the alert on "not Connected" reads).
"""

from __future__ import annotations

import asyncio

import orjson
from prometheus_client import Gauge

from shared.connect import ConnectionMonitor, ConnectionReport
from shared.errors import GreenguardError
from shared.greenhouse import HarvestClient
from shared.health import Health
from shared.kafka import Publisher
from shared.logging import get_logger
from shared.topics import INTEGRATION_STATE

log = get_logger(__name__)

CONNECTED = Gauge(
    "greenguard_integration_connected",
    "1 when the last connection check found working credentials and every scope, else 0.",
    ["service"],
)


class IntegrationWatch:
    """Check the Harvest credentials and scopes now and every ``interval_seconds``."""

    def __init__(
        self,
        service: str,
        client: HarvestClient,
        publisher: Publisher,
        health: Health,
        interval_seconds: float,
    ) -> None:
        self._service = service
        self._monitor = ConnectionMonitor(client, interval_seconds=0)
        self._publisher = publisher
        self._health = health
        self._interval = interval_seconds

    @property
    def latest(self) -> ConnectionReport | None:
        return self._monitor.latest

    async def check(self) -> ConnectionReport:
        """Run one check and publish its outcome; a failed publish is logged, not raised."""
        report = await self._monitor.check_once()
        ready = self._monitor.ready
        reason = report.reason
        if report.missing_scopes:
            reason = f"{reason} (missing: {', '.join(report.missing_scopes)})"
        self._health.set_ready("greenhouse", ready, "" if ready else reason)
        CONNECTED.labels(self._service).set(1 if report.status == "Connected" else 0)
        try:
            await self._publisher.publish(
                INTEGRATION_STATE, f"connect:{self._service}", orjson.dumps(report.to_dict())
            )
        except GreenguardError as exc:
            log.warning("connection_report_not_published", service=self._service, error=str(exc))
        return report

    async def run(self) -> None:
        """Check every interval until cancelled; an interval of 0 disables the repeats."""
        if self._interval <= 0:
            return
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.check()
            except GreenguardError as exc:
                # check_connection reports failures itself; this is Kafka or an unexpected error.
                log.warning("connection_check_failed", service=self._service, error=str(exc))
