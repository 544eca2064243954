"""Kafka plumbing shared by every process: client options, topic creation, the publisher and
reading compacted topics.

The consumer pipeline that commits after side effects lives in ``shared.consumer``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from shared.errors import BrokerUnavailableError
from shared.logging import get_logger
from shared.settings import KafkaSettings, secret_value
from shared.topics import TopicSpec, topic_name

log = get_logger(__name__)

Headers = Sequence[tuple[str, bytes]]


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Return the connection keyword arguments every aiokafka client of this process takes."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": settings.kafka_client_id,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
        if settings.kafka_ssl_certfile:
            context.load_cert_chain(
                str(settings.kafka_ssl_certfile),
                str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
            )
        options["ssl_context"] = context
    if settings.kafka_security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = secret_value(settings.kafka_sasl_password)
    return options


async def ensure_topics(settings: KafkaSettings, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet and return the names created.

    Safe when several processes start together: a topic another process created in the meantime
    counts as present. Does nothing when ``KAFKA_CREATE_TOPICS`` is false (topics managed by
    Strimzi ``KafkaTopic`` resources, for example).
    """
    if not settings.kafka_create_topics:
        return []
    admin = AIOKafkaAdminClient(**client_options(settings))
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        wanted = []
        for spec in specs:
            name = topic_name(spec, settings.kafka_topic_prefix)
            if name in existing:
                continue
            configs = {"cleanup.policy": "compact"} if spec.compacted else {}
            partitions = (
                1 if spec.name.endswith("poller-leader") else settings.kafka_topic_partitions
            )
            wanted.append(
                NewTopic(
                    name=name,
                    num_partitions=partitions,
                    replication_factor=settings.kafka_topic_replication_factor,
                    topic_configs=configs,
                )
            )
        created = []
        for topic in wanted:
            try:
                await admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        if created:
            log.info("topics_created", topics=created)
        return created
    except KafkaError as exc:
        raise BrokerUnavailableError(f"could not create topics: {type(exc).__name__}") from exc
    finally:
        await admin.close()


class Publisher:
    """The one producer of a process: acks=all, and a bounded wait for every acknowledgement."""

    def __init__(self, settings: KafkaSettings, *, linger_ms: int = 0) -> None:
        self._settings = settings
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None  # created in start(), inside the loop
        self._started = False
        self._stopped = False

    @property
    def prefix(self) -> str:
        return self._settings.kafka_topic_prefix

    async def start(self) -> None:
        """Connect to the cluster; raise BrokerUnavailableError if it cannot be reached."""
        if self._started:
            return
        self._producer = AIOKafkaProducer(
            **client_options(self._settings),
            acks="all",
            enable_idempotence=self._settings.kafka_enable_idempotence,
            linger_ms=self._linger_ms,
            max_request_size=2 * 1024 * 1024,
            request_timeout_ms=int(self._settings.kafka_publish_timeout_seconds * 1000),
        )
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            raise BrokerUnavailableError(
                f"cannot reach Kafka at {self._settings.kafka_bootstrap_servers}: "
                f"{type(exc).__name__}"
            ) from exc
        self._started = True

    async def stop(self) -> None:
        """Flush and close; safe to call twice."""
        if self._producer is not None and self._started and not self._stopped:
            self._stopped = True
            await self._producer.stop()

    async def publish(
        self,
        spec: TopicSpec | str,
        key: str | None,
        value: bytes | None,
        headers: Headers = (),
    ) -> tuple[int, int]:
        """Write one record and wait for the broker's acknowledgement.

        Returns the partition and offset. Raises BrokerUnavailableError when the write is not
        acknowledged within ``KAFKA_PUBLISH_TIMEOUT_SECONDS``; the record may then still land,
        which is why every consumer tolerates duplicates.
        """
        topic = spec if isinstance(spec, str) else topic_name(spec, self.prefix)
        if self._producer is None or not self._started:
            raise BrokerUnavailableError(f"publisher not started; cannot write to {topic}")
        try:
            async with asyncio.timeout(self._settings.kafka_publish_timeout_seconds):
                metadata = await self._producer.send_and_wait(
                    topic,
                    value=value,
                    key=key.encode() if key is not None else None,
                    headers=list(headers),
                )
        except (KafkaError, TimeoutError) as exc:
            raise BrokerUnavailableError(
                f"Kafka did not acknowledge the write to {topic}: {type(exc).__name__}"
            ) from exc
        return metadata.partition, metadata.offset

    async def is_connected(self) -> bool:
        """Return whether the cluster responded to a metadata request just now."""
        if self._producer is None:
            return False
        try:
            async with asyncio.timeout(self._settings.kafka_publish_timeout_seconds):
                return bool(await self._producer.client.fetch_all_metadata())
        except (KafkaError, TimeoutError, OSError):
            return False


async def read_to_end(
    settings: KafkaSettings,
    spec: TopicSpec | str,
    *,
    timeout_seconds: float = 30.0,
) -> list[tuple[str | None, bytes | None, int, int]]:
    """Read a whole topic from the beginning to its current end, without a consumer group.

    Returns ``(key, value, partition, offset)`` tuples in partition order. Raises
    BrokerUnavailableError when Kafka fails or the end is not reached within ``timeout_seconds``.
    The end is taken from the high watermark carried by fetch responses, because some brokers
    (the embedded Tansu) get ``end_offsets`` wrong when the last batch contains several records.
    """
    topic = spec if isinstance(spec, str) else topic_name(spec, settings.kafka_topic_prefix)
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        # Not capped lower: Tansu on its s3:// engine returns nothing from a fetch whose wait
        # ends before its object listing does, and a read would then never reach the end.
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        auto_offset_reset="earliest",
    )
    records: list[tuple[str | None, bytes | None, int, int]] = []
    try:
        await consumer.start()
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return records
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        pending = {tp for tp in tps if ends.get(tp, 0) > 0}
        async with asyncio.timeout(timeout_seconds):
            while pending:
                batch = await consumer.getmany(*pending, timeout_ms=200)
                for tp, messages in batch.items():
                    for message in messages:
                        key = message.key.decode() if message.key is not None else None
                        records.append((key, message.value, tp.partition, message.offset))
                for tp in list(pending):
                    highwater = consumer.highwater(tp)
                    position = await consumer.position(tp)
                    if highwater is not None and position >= max(highwater, ends[tp]):
                        pending.discard(tp)
    except KafkaError as exc:
        raise BrokerUnavailableError(f"could not read {topic}: {type(exc).__name__}") from exc
    except TimeoutError as exc:
        raise BrokerUnavailableError(
            f"could not read {topic} to its end within {timeout_seconds:g} s "
            f"({len(records)} records read)"
        ) from exc
    finally:
        await consumer.stop()
    return records


async def read_compacted(
    settings: KafkaSettings, spec: TopicSpec | str, *, timeout_seconds: float = 30.0
) -> dict[str, bytes]:
    """Return the last value of every key of a compacted topic; tombstones remove the key."""
    table: dict[str, bytes] = {}
    for key, value, _partition, _offset in await read_to_end(
        settings, spec, timeout_seconds=timeout_seconds
    ):
        if key is None:
            continue
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    return table
