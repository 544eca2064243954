"""Prometheus metrics of the Harvest client, defined once per process at import."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HARVEST_REQUESTS = Counter(
    "greenguard_harvest_requests",
    "HTTP requests sent to Greenhouse (Harvest V3 and its token endpoints), by endpoint and "
    "status; status is 'error' when no response arrived.",
    ["endpoint", "status"],
)

HARVEST_REQUEST_SECONDS = Histogram(
    "greenguard_harvest_request_seconds",
    "Latency of one HTTP request to Greenhouse in seconds, retries counted separately.",
    ["endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
