"""Prometheus metrics of the poller, defined once per process at import.

Harvest calls are counted by the client itself (``greenguard_harvest_requests_total`` by
endpoint and status). Only the active poller exports poll ages: a standby removes them, so
alerts take the minimum across replicas and fire on a missing series too.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ACTIVE = Gauge("greenguard_poller_active", "1 while this process is the active poller, else 0.")
LAST_SUCCESS = Gauge(
    "greenguard_poller_last_success_timestamp_seconds",
    "Unix time of the last complete poll, by resource (interviews, interviewers, sweep, ...).",
    ["resource"],
)
SUCCESS_AGE = Gauge(
    "greenguard_poller_last_success_age_seconds",
    "Seconds since the last complete poll, by resource; alert when it grows past a few intervals.",
    ["resource"],
)
PUBLISHED = Counter(
    "greenguard_poller_records_published",
    "Events the poller published, by resource and event type.",
    ["resource", "type"],
)
FAILURES = Counter(
    "greenguard_poller_poll_failures",
    "Polls that ended in an error and will be retried at the next interval, by resource and "
    "error class.",
    ["resource", "error"],
)
