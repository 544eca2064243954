"""Settings of ``greenguard enricher``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from services.enricher.meetings import DEFAULT_PROVIDERS, LinkPolicy, parse_providers
from shared.custom_fields import CustomFieldSettings
from shared.links import parse_signing_keys
from shared.protected_users import ProtectedDomainSettings
from shared.settings import GreenhouseSettings, HealthSettings, KafkaSettings

_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


class EnricherSettings(
    KafkaSettings,
    GreenhouseSettings,
    HealthSettings,
    CustomFieldSettings,
    ProtectedDomainSettings,
):
    """The enricher: Kafka, Harvest, secure links, meeting providers and the candidate context."""

    health_port: int = Field(default=8082, ge=0, le=65535)
    consumer_group: str = Field(default="greenguard-enricher", min_length=1)
    greenguard_link_base_url: str = Field(
        description="Public URL under which the ingest service serves secure links, such as "
        "https://verify.example.com/l; the token is appended after a slash.",
    )
    greenguard_link_signing_key: SecretStr = Field(
        description="HMAC key (at least 32 characters) that signs secure links; while rotating, "
        "several comma-separated keys of which the first signs.",
    )
    greenguard_link_valid_after_end_seconds: int = Field(
        default=6 * 3600,
        ge=0,
        le=30 * 86400,
        description="How long a secure link keeps working after the interview's scheduled end.",
    )
    greenguard_meeting_providers: dict[str, list[str]] = Field(
        default_factory=lambda: {name: list(hosts) for name, hosts in DEFAULT_PROVIDERS.items()},
        description='JSON object of provider name to host patterns, e.g. {"zoom": ["zoom.us", '
        '"*.zoom.us"]}; only links on these hosts are wrapped.',
    )
    greenguard_context_custom_fields: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated name_keys of further candidate custom fields to copy into "
        "the candidate context; Greenguard's own two fields are always copied.",
    )
    greenguard_reference_cache_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="How long job, source and user records are cached before being read again.",
    )

    @field_validator("greenguard_link_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        local = parts.hostname in _LOCAL_HOSTS
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            raise ValueError("must be an https URL (http only for localhost)")
        if not parts.hostname or parts.query or parts.fragment or "@" in parts.netloc:
            raise ValueError("must be a plain URL with a host and no query, fragment or user")
        return value.rstrip("/")

    @field_validator("greenguard_link_signing_key")
    @classmethod
    def _check_signing_key(cls, value: SecretStr) -> SecretStr:
        parse_signing_keys(value.get_secret_value())
        return value

    @field_validator("greenguard_meeting_providers")
    @classmethod
    def _check_providers(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if not value:
            raise ValueError("at least one meeting provider is needed")
        parse_providers(value)
        return value

    @field_validator("greenguard_context_custom_fields", mode="before")
    @classmethod
    def _split_name_keys(cls, value: Any) -> list[str]:
        items = value.split(",") if isinstance(value, str) else list(value or [])
        return [str(item).strip() for item in items if str(item).strip()]

    def link_policy(self) -> LinkPolicy:
        """Return the secure-link policy these settings describe."""
        return LinkPolicy(
            base_url=self.greenguard_link_base_url,
            signing_keys=tuple(
                parse_signing_keys(self.greenguard_link_signing_key.get_secret_value())
            ),
            valid_after_end=timedelta(seconds=self.greenguard_link_valid_after_end_seconds),
            providers=parse_providers(self.greenguard_meeting_providers),
        )
