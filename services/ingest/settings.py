"""Settings of ``greenguard ingest``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from shared.errors import ConfigurationError
from shared.links import parse_signing_keys
from shared.settings import KafkaSettings


class IngestSettings(KafkaSettings):
    """The webhook receiver: Kafka plus the webhook secret, body limit and HTTP address."""

    greenhouse_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Secret Key of the Greenhouse web hook; two comma-separated while rotating.",
    )
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    ingest_host: str = "0.0.0.0"  # noqa: S104 (the pod's own address; Kubernetes routes to it)
    ingest_port: int = Field(default=8080, ge=0, le=65535)
    greenguard_link_signing_key: SecretStr | None = Field(
        default=None,
        description="Keys that verify secure interview links; comma-separated while rotating.",
    )
    greenguard_hr_tokens_file: Path | None = Field(
        default=None,
        description="File of bearer tokens allowed to read /api/interviews, one per line.",
    )
    readiness_cache_seconds: float = Field(default=2.0, ge=0)

    @field_validator("greenguard_link_signing_key")
    @classmethod
    def _check_link_keys(cls, value: SecretStr | None) -> SecretStr | None:
        # The same rule as the enricher's, so that no key verifies here that cannot sign there.
        if value is not None and value.get_secret_value().strip():
            parse_signing_keys(value.get_secret_value())
        return value

    def webhook_secrets(self) -> list[bytes]:
        """Return the configured webhook secrets, or raise ConfigurationError if there is none."""
        raw = (
            self.greenhouse_webhook_secret.get_secret_value()
            if self.greenhouse_webhook_secret
            else ""
        )
        secrets = [part.strip().encode() for part in raw.split(",") if part.strip()]
        if not secrets:
            raise ConfigurationError(
                "GREENHOUSE_WEBHOOK_SECRET (or GREENHOUSE_WEBHOOK_SECRET_FILE) is missing: set it "
                "to the Secret Key of the web hook in Greenhouse (Configure > Dev Center > Web Hooks)"
            )
        return secrets

    def link_signing_keys(self) -> list[str]:
        """Return the keys that verify secure links; empty when links are not served here."""
        raw = (
            self.greenguard_link_signing_key.get_secret_value()
            if self.greenguard_link_signing_key
            else ""
        )
        return [part.strip() for part in raw.split(",") if part.strip()]
