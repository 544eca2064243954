"""Settings of ``greenguard notifier``: Kafka, Harvest, the custom field names and the notes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.custom_fields import CustomFieldSettings
from shared.settings import GreenhouseSettings, HealthSettings, KafkaSettings

NoteVisibility = Literal["admin_only", "private", "public"]


class NotifierSettings(KafkaSettings, GreenhouseSettings, HealthSettings, CustomFieldSettings):
    """The one settings object of the notifier process."""

    health_port: int = Field(default=8083, ge=0, le=65535)
    consumer_group: str = Field(
        default="greenguard-notifier",
        min_length=1,
        description="Consumer group id; KAFKA_TOPIC_PREFIX is put in front of it.",
    )
    greenguard_note_author_user_id: int | None = Field(
        default=None,
        gt=0,
        description="Greenhouse user id shown as the author of alert notes; unset: the acting user.",
    )
    greenguard_note_visibility: NoteVisibility = Field(
        default="admin_only",
        description="Who sees alert notes in Greenhouse: admin_only, private or public.",
    )

    @property
    def group_id(self) -> str:
        """The consumer group id on the cluster."""
        return f"{self.kafka_topic_prefix}{self.consumer_group}"
