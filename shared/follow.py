"""A live table of a keyed topic: the last value of each key, loaded at start and kept current.

``TopicTable`` reads the whole topic once with ``read_to_end``, then follows it with a consumer
outside any consumer group, so every replica of a service reads every record, whichever
partitions its consumer group gave it. A tombstone removes the key.

Each record is decoded by the table's ``decode`` function, which returns None for a record the
table ignores. A record it cannot decode is logged once and skipped, so one bad record never
stops the table.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from shared.errors import BrokerUnavailableError, InvalidEventError
from shared.kafka import client_options, read_to_end
from shared.logging import get_logger
from shared.settings import KafkaSettings
from shared.topics import TopicSpec, topic_name

log = get_logger(__name__)

V = TypeVar("V")

# Pause after a failed fetch before the next one; the consumer reconnects by itself.
_RETRY_SECONDS = 1.0


class TopicTable(Generic[V]):
    """The last decoded value of every key of one topic, followed live after ``start``."""

    def __init__(
        self,
        settings: KafkaSettings,
        spec: TopicSpec,
        decode: Callable[[str, bytes], V | None],
    ) -> None:
        self._settings = settings
        self._topic = topic_name(spec, settings.kafka_topic_prefix)
        self._decode = decode
        self._values: dict[str, V] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values))

    def get(self, key: str) -> V | None:
        return self._values.get(key)

    def items(self) -> list[tuple[str, V]]:
        return list(self._values.items())

    def put(self, key: str, value: V | None) -> None:
        """Apply a value this process just published, before the follower reads it back."""
        if value is None:
            self._values.pop(key, None)
        else:
            self._values[key] = value

    async def start(self, timeout_seconds: float = 30.0) -> None:
        """Load the topic to its current end, then follow it in a background task.

        Raises BrokerUnavailableError when the topic cannot be read within the time-out.
        """
        if self._task is not None:
            return
        positions: dict[int, int] = {}
        records = await read_to_end(self._settings, self._topic, timeout_seconds=timeout_seconds)
        for key, value, partition, offset in records:
            positions[partition] = offset + 1
            self._apply(key, value, partition, offset)
        consumer = AIOKafkaConsumer(
            **client_options(self._settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._settings.kafka_fetch_max_wait_ms,
        )
        try:
            await consumer.start()
            partitions = consumer.partitions_for_topic(self._topic) or set()
            if not partitions:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(self._topic) or set()
            assigned = [TopicPartition(self._topic, number) for number in sorted(partitions)]
            consumer.assign(assigned)
            for tp in assigned:
                consumer.seek(tp, positions.get(tp.partition, 0))
        except KafkaError as exc:
            await consumer.stop()
            raise BrokerUnavailableError(
                f"could not follow {self._topic}: {type(exc).__name__}"
            ) from exc
        self._consumer = consumer
        self._task = asyncio.create_task(self._follow(consumer), name=f"follow-{self._topic}")
        log.info("topic_table_loaded", topic=self._topic, keys=len(self._values))

    async def stop(self) -> None:
        """Stop following; safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                try:
                    batch = await consumer.getmany(timeout_ms=500)
                except KafkaError as exc:
                    log.warning("topic_follow_failed", topic=self._topic, error=type(exc).__name__)
                    await asyncio.sleep(_RETRY_SECONDS)
                    continue
                for messages in batch.values():
                    for message in messages:
                        key = message.key.decode("utf-8", "replace") if message.key else None
                        self._apply(key, message.value, message.partition, message.offset)
        except Exception:
            # Logged here because the task is awaited only in stop(), which re-raises it.
            log.exception("topic_follow_crashed", topic=self._topic)
            raise

    def _apply(self, key: str | None, raw: bytes | None, partition: int, offset: int) -> None:
        if key is None:
            return
        value: V | None = None
        if raw is not None:
            try:
                value = self._decode(key, raw)
                if value is None:
                    return
            except InvalidEventError as exc:
                # Keys may be email addresses, so the record is named by its position only.
                log.warning(
                    "topic_record_skipped",
                    topic=self._topic,
                    partition=partition,
                    offset=offset,
                    reason=str(exc),
                )
                return
        self.put(key, value)
