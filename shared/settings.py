"""Typed settings, read once at start-up from environment variables or mounted secret files.

Each process has one settings class, composed from the mixins below. A field's environment
variable is its name in upper case (``kafka_bootstrap_servers`` → ``KAFKA_BOOTSTRAP_SERVERS``).
Every secret field (a ``SecretStr``) may instead be read from a file named by ``<NAME>_FILE``,
which is how Kubernetes mounts secrets. The variable itself wins when both are set.

Nothing else in the product reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from shared.errors import ConfigurationError

LogFormat = Literal["json", "console"]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


class SecretFileSource(PydanticBaseSettingsSource):
    """Read each ``SecretStr`` field from the file named by ``<NAME>_FILE``, when set."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        variable = f"{field_name.upper()}_FILE"
        path = os.environ.get(variable)
        if not path or field.annotation not in (SecretStr, SecretStr | None):
            return None, field_name, False
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"{variable} names {path!r}, which cannot be read ({exc.strerror}); "
                "mount the secret there or unset the variable"
            ) from exc
        except UnicodeDecodeError:
            raise ConfigurationError(
                f"{variable} names {path!r}, which is not UTF-8 text; store the secret as text"
            ) from None
        return text.rstrip("\r\n"), field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                values[key] = value
        return values


class BaseServiceSettings(BaseSettings):
    """Settings every process has: logging and the health server's port."""

    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: LogFormat = "json"
    shutdown_grace_seconds: float = Field(
        default=20.0, ge=0, description="Time given to in-flight work after SIGTERM."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        assert isinstance(env_settings, EnvSettingsSource)
        return (init_settings, env_settings, SecretFileSource(settings_cls))

    @classmethod
    def load(cls, **overrides: Any) -> Self:
        """Build the settings, turning validation errors into one ConfigurationError.

        The message names each environment variable and what is wrong with it, never its value.
        """
        try:
            return cls(**overrides)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                name = str(error["loc"][0]).upper() if error["loc"] else cls.__name__
                problems.append(f"{name}: {error['msg']}")
            raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None


class KafkaSettings(BaseServiceSettings):
    """Connection, producer and topic settings shared by every process that talks to Kafka."""

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_client_id: str = "greenguard"
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    # Apache Kafka supports the idempotent producer; the embedded test broker does not.
    kafka_enable_idempotence: bool = True
    kafka_publish_timeout_seconds: float = Field(default=10.0, gt=0)
    kafka_create_topics: bool = True
    kafka_topic_partitions: int = Field(default=6, ge=1, le=1000)
    kafka_topic_replication_factor: int = Field(default=1, ge=1, le=10)
    kafka_fetch_max_wait_ms: int = Field(default=500, ge=1, le=60_000)
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1_000)
    kafka_heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    kafka_topic_prefix: str = Field(
        default="",
        description="Prefix added to every topic name, for sharing one cluster between installs.",
    )

    @model_validator(mode="after")
    def _check_sasl(self) -> Self:
        uses_sasl = self.kafka_security_protocol.startswith("SASL")
        if uses_sasl and not (self.kafka_sasl_mechanism and self.kafka_sasl_username):
            raise ValueError(
                "KAFKA_SECURITY_PROTOCOL is SASL_*, so KAFKA_SASL_MECHANISM and "
                "KAFKA_SASL_USERNAME must be set too"
            )
        if uses_sasl and self.kafka_sasl_password is None:
            raise ValueError(
                "KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE) must be set for SASL"
            )
        return self

    @field_validator("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile")
    @classmethod
    def _check_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{str(value)!r} is not a readable file")
        return value

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {server.strip()!r}")
        return value


class GreenhouseSettings(BaseServiceSettings):
    """Harvest V3 credentials and endpoints."""

    greenhouse_client_id: str | None = None
    greenhouse_client_secret: SecretStr | None = None
    greenhouse_token_url: str = "https://auth.greenhouse.io/token"  # noqa: S105 (a URL)
    greenhouse_introspect_url: str = "https://auth.greenhouse.io/introspect"
    greenhouse_api_url: str = "https://harvest.greenhouse.io/v3"
    greenhouse_acting_user_id: int | None = None
    greenhouse_timeout_seconds: float = Field(default=30.0, gt=0)
    greenhouse_max_attempts: int = Field(default=6, ge=1, le=20)
    greenhouse_rate_limit_share: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="Share of the Harvest rate limit this process may use.",
    )
    greenhouse_connect_check_interval_seconds: float = Field(default=3600.0, ge=0)

    @field_validator("greenhouse_token_url", "greenhouse_introspect_url", "greenhouse_api_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        scheme, _, rest = value.partition("://")
        if scheme.lower() not in ("https", "http") or not rest.split("/", 1)[0]:
            raise ValueError(f"expected an http(s) URL such as https://host/path, got {value!r}")
        return value

    def require_credentials(self) -> tuple[str, SecretStr]:
        """Return the client id and secret, or raise ConfigurationError naming what is missing."""
        missing = [
            name
            for name, value in (
                ("GREENHOUSE_CLIENT_ID", self.greenhouse_client_id),
                ("GREENHOUSE_CLIENT_SECRET", self.greenhouse_client_secret),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(
                f"missing {' and '.join(missing)}: create Harvest V3 (OAuth) credentials in "
                "Greenhouse (Configure > Dev Center > API Credential Management) and set them"
            )
        assert self.greenhouse_client_id is not None
        assert self.greenhouse_client_secret is not None
        return self.greenhouse_client_id, self.greenhouse_client_secret


class HealthSettings(BaseServiceSettings):
    """The port each worker process serves /healthz, /readyz and /metrics on."""

    health_host: str = "0.0.0.0"  # noqa: S104 (probes reach the pod on its own address)
    health_port: int = Field(default=8081, ge=0, le=65535)
    liveness_stall_seconds: float = Field(
        default=120.0,
        gt=0,
        description="A worker whose loop made no progress for this long reports itself not alive.",
    )


SettingsT = TypeVar("SettingsT", bound=BaseServiceSettings)


def secret_value(secret: SecretStr | None) -> str:
    """Return the plain text of an optional secret, or an empty string."""
    return secret.get_secret_value() if secret is not None else ""
