"""Settings of ``greenguard poller``."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from shared.settings import GreenhouseSettings, HealthSettings, KafkaSettings

# Resources polled on their own cadence, in the order a cycle visits them. Interviews (with
# their panels) have their own interval setting, and the look-ahead sweep has another.
RECORD_RESOURCES = (
    "applications",
    "candidates",
    "users",
    "custom_fields",
    "email_templates",
    "jobs",
    "sources",
    "job_interviews",
)


class PollerSettings(KafkaSettings, GreenhouseSettings, HealthSettings):
    """The Harvest V3 poller: cadences, windows and leader election."""

    greenhouse_rate_limit_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of the Harvest rate limit the poller may use; the rest is left to "
        "the enricher and the notifier.",
    )
    # A standby takes over once the broker drops the active member: about one session timeout
    # after it died, plus one group join.
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1_000)
    kafka_heartbeat_interval_ms: int = Field(default=1_000, ge=100)
    consumer_group: str = Field(
        default="greenguard-poller",
        min_length=1,
        description="Consumer group whose member assigned the leader topic's partition polls; "
        "KAFKA_TOPIC_PREFIX is prepended, as to topic names.",
    )

    poller_interviews_interval_seconds: float = Field(default=30.0, gt=0)
    poller_applications_interval_seconds: float = Field(default=300.0, gt=0)
    poller_candidates_interval_seconds: float = Field(default=300.0, gt=0)
    poller_users_interval_seconds: float = Field(default=600.0, gt=0)
    poller_custom_fields_interval_seconds: float = Field(default=900.0, gt=0)
    poller_email_templates_interval_seconds: float = Field(default=900.0, gt=0)
    poller_jobs_interval_seconds: float = Field(default=900.0, gt=0)
    poller_sources_interval_seconds: float = Field(default=3600.0, gt=0)
    poller_job_interviews_interval_seconds: float = Field(default=900.0, gt=0)

    poller_overlap_seconds: float = Field(
        default=600.0,
        ge=0,
        description="How far before the high-water mark each updated_at window starts.",
    )
    poller_lookback_hours: float = Field(
        default=24.0, gt=0, description="How far back the first poll of a resource reads."
    )
    poller_lookahead_hours: float = Field(
        default=72.0, gt=0, description="How far ahead the sweep re-reads scheduled interviews."
    )
    poller_sweep_interval_seconds: float = Field(default=600.0, gt=0)
    poller_retry_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How soon a job that failed on a retriable error (Kafka or Greenhouse "
        "unavailable) runs again, unless its own interval is shorter.",
    )
    poller_page_size: int = Field(default=500, ge=1, le=500)
    poller_seen_versions_max: int = Field(
        default=20_000,
        ge=100,
        description="Most record versions remembered per resource to skip re-reads of the "
        "overlap; past it the oldest are forgotten and may be published again.",
    )

    @model_validator(mode="after")
    def _check_lease(self) -> Self:
        if self.kafka_session_timeout_ms <= 2 * self.kafka_heartbeat_interval_ms:
            raise ValueError(
                "KAFKA_SESSION_TIMEOUT_MS must be more than twice KAFKA_HEARTBEAT_INTERVAL_MS, "
                "because the active poller stops when two heartbeat intervals are left of its "
                f"session; got {self.kafka_session_timeout_ms} and "
                f"{self.kafka_heartbeat_interval_ms}"
            )
        return self

    def interval_seconds(self, resource: str) -> float:
        """Return the polling interval of ``resource`` (``interviews`` or a record resource)."""
        value: float = getattr(self, f"poller_{resource}_interval_seconds")
        return value

    @property
    def group_id(self) -> str:
        """The consumer group of the leader election, with the installation's prefix."""
        return f"{self.kafka_topic_prefix}{self.consumer_group}"

    @property
    def lease_seconds(self) -> float:
        """How long a confirmed membership lets this member act without a new confirmation."""
        return (self.kafka_session_timeout_ms - 2 * self.kafka_heartbeat_interval_ms) / 1000
