"""Helpers shared by the on-call commands ``tail``, ``lag``, ``dlq`` and ``status``.

Each command is short-lived: it loads ``OperatorSettings``, opens one ``ClusterReader`` (a
consumer without a consumer group, plus an admin client when offsets of groups are needed), does
its work and closes it. Operator commands never create topics: a missing topic reads as empty.

End offsets come from ``ListOffsets`` (correct on Apache Kafka) and are then raised to the high
watermark of a fetch response. The embedded Tansu broker returns the last batch's base offset + 1
from ``ListOffsets`` when that batch contains several records, and the fetch corrects it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Collection, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pydantic import Field

from shared.errors import BrokerUnavailableError
from shared.events import isoformat
from shared.kafka import client_options
from shared.logging import configure_logging
from shared.settings import GreenhouseSettings, KafkaSettings
from shared.topics import ALL_TOPICS, TopicSpec, topic_name

EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE from sysexits.h: Kafka could not be reached

# The consumer groups of the Greenguard services, before KAFKA_TOPIC_PREFIX.
KNOWN_GROUPS: tuple[str, ...] = ("greenguard-enricher", "greenguard-notifier", "greenguard-poller")

# How long one fetch waits for data; only the high watermark in the response is needed.
_PROBE_FETCH_WAIT_MS = 100
# getmany waits its whole time-out when no record arrives, even once the high watermark is known.
_PROBE_POLL_MS = 10

Record: TypeAlias = ConsumerRecord[bytes, bytes]


class OperatorSettings(KafkaSettings, GreenhouseSettings):
    """Settings of the on-call commands: the Kafka connection and the Greenhouse account."""

    operator_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long an operator command waits for the Kafka cluster before giving up.",
    )


def load_settings() -> OperatorSettings:
    """Load the operator settings from the environment; raise ConfigurationError if invalid."""
    return OperatorSettings.load()


def run_command(command: str, work: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine and turn an unreachable cluster into exit status 69.

    Log lines go to stderr, so that stdout carries only the command's output.
    """
    configure_logging(level="WARNING", fmt="console")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)
    try:
        return asyncio.run(work)
    except BrokerUnavailableError as exc:
        print(f"greenguard {command}: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE


def positive_int(text: str) -> int:
    """Parse a command-line count of at least 1; argparse turns the error into a usage message."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    """Parse a command-line number of seconds greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text}")
    return value


def resolve_topic(name: str, prefix: str) -> str:
    """Return the cluster name of a topic given with or without KAFKA_TOPIC_PREFIX."""
    if prefix and name.startswith(prefix):
        return name
    return f"{prefix}{name}"


def display_topic(topic: str, prefix: str) -> str:
    """Return a topic's name without KAFKA_TOPIC_PREFIX, for output."""
    return topic.removeprefix(prefix) if prefix else topic


def group_name(group: str, prefix: str) -> str:
    """Return a consumer group's name on the cluster; the prefix applies to groups too."""
    return resolve_topic(group, prefix)


def all_topic_names(prefix: str, specs: Iterable[TopicSpec] = ALL_TOPICS) -> list[str]:
    """Return the cluster names of the given Greenguard topics."""
    return [topic_name(spec, prefix) for spec in specs]


@dataclass(frozen=True)
class PartitionLag:
    """Lag of one consumer group on one partition: records at or after the committed offset."""

    group: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        # A commit can run ahead of an end offset read a moment earlier.
        return max(self.end - self.committed, 0)


def compute_lag(
    group: str, committed: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int]
) -> list[PartitionLag]:
    """Pair each committed offset with its partition's end offset, in topic-partition order.

    Partitions without a committed offset (negative, as Kafka reports "none") or without a known
    end offset are left out.
    """
    rows = []
    for tp in sorted(committed):
        offset = committed[tp]
        if offset < 0 or tp not in ends:
            continue
        rows.append(PartitionLag(group, tp.topic, tp.partition, offset, ends[tp]))
    return rows


async def collect_lag(
    reader: ClusterReader, groups: Sequence[str], topics: Iterable[str]
) -> dict[str, list[PartitionLag]]:
    """Return the lag of each group on every partition of ``topics`` it has committed on.

    NOTE: a partition the group has never committed on has no row, even when the group is
    assigned to it, because the embedded broker does not report member assignments.
    """
    partitions = await reader.partitions(topics)
    if not partitions:
        return {group: [] for group in groups}
    ends = await reader.end_offsets(partitions)
    lag = {}
    for group in groups:
        committed = await reader.committed_offsets(group, partitions)
        lag[group] = compute_lag(group, committed, ends)
    return lag


class ClusterReader:
    """The Kafka clients of one operator command: a consumer without a group, and an admin
    client opened the first time committed offsets are requested.

    Kafka errors and time-outs surface as BrokerUnavailableError naming the operation.
    """

    def __init__(self, settings: KafkaSettings, timeout_seconds: float = 30.0) -> None:
        self._settings = settings
        self._timeout = timeout_seconds
        self.consumer = AIOKafkaConsumer(
            **client_options(settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=min(settings.kafka_fetch_max_wait_ms, _PROBE_FETCH_WAIT_MS),
        )
        self._admin: AIOKafkaAdminClient | None = None

    async def __aenter__(self) -> Self:
        try:
            await self._call("connect", self.consumer.start())
        except BrokerUnavailableError:
            await self.consumer.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.consumer.stop()
        if self._admin is not None:
            await self._admin.close()

    async def _call(self, operation: str, awaitable: Awaitable[Any]) -> Any:
        try:
            async with asyncio.timeout(self._timeout):
                return await awaitable
        except (KafkaError, TimeoutError, OSError) as exc:
            raise BrokerUnavailableError(
                f"could not {operation} (Kafka at {self._settings.kafka_bootstrap_servers}): "
                f"{describe_error(exc)}; check KAFKA_BOOTSTRAP_SERVERS and that the cluster is up"
            ) from exc

    async def _cluster_metadata(self) -> Any:
        # The consumer's own metadata covers only the topics it is assigned, so a partition
        # list for any other topic needs a metadata request over all topics. aiokafka exposes
        # that only on its client, hence the private attribute.
        return await self._call("list topics", self.consumer._client.fetch_all_metadata())

    async def _track(self, partitions: Iterable[TopicPartition]) -> None:
        # aiokafka finds partition leaders in the metadata of the topics its client tracks, and
        # for any other topic it retries after retry_backoff_ms (100 ms), once per topic.
        client = self.consumer._client
        updates = [client.add_topic(topic) for topic in {tp.topic for tp in partitions}]
        await self._call("read topic metadata", asyncio.gather(*updates))

    async def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        """Return every partition of the given topics that exist, in topic-partition order."""
        cluster = await self._cluster_metadata()
        found = []
        for topic in topics:
            numbers = cluster.partitions_for_topic(topic) or set()
            found += [TopicPartition(topic, number) for number in sorted(numbers)]
        return found

    async def existing_topics(self, topics: Iterable[str]) -> list[str]:
        """Return the given topics that exist on the cluster, in the given order."""
        existing = (await self._cluster_metadata()).topics()
        return [topic for topic in topics if topic in existing]

    async def beginning_offsets(
        self, partitions: Sequence[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """Return the first offset still stored on each partition."""
        if not partitions:
            return {}
        await self._track(partitions)
        offsets: dict[TopicPartition, int] = await self._call(
            "read beginning offsets", self.consumer.beginning_offsets(list(partitions))
        )
        return offsets

    async def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """Return the offset the next record of each partition will get.

        Reassigns the consumer. Takes ``ListOffsets`` and then the high watermark of a fetch from
        there, whichever is larger (see the module docstring). When a partition's fetch does not
        answer within the time-out, its ``ListOffsets`` value is kept.
        """
        if not partitions:
            return {}
        await self._track(partitions)
        listed: dict[TopicPartition, int] = await self._call(
            "read end offsets", self.consumer.end_offsets(list(partitions))
        )
        ends = dict(listed)
        self.consumer.assign(list(partitions))
        for tp in partitions:
            self.consumer.seek(tp, listed[tp])
        pending = set(partitions)
        try:
            async with asyncio.timeout(self._timeout):
                while pending:
                    await self.consumer.getmany(*pending, timeout_ms=_PROBE_POLL_MS)
                    for tp in list(pending):
                        highwater = self.consumer.highwater(tp)
                        if highwater is not None:
                            ends[tp] = max(ends[tp], highwater)
                            pending.discard(tp)
        except TimeoutError:
            pass
        except KafkaError as exc:
            raise BrokerUnavailableError(
                f"could not fetch high watermarks: {describe_error(exc)}"
            ) from exc
        return ends

    async def committed_offsets(
        self, group: str, partitions: Collection[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """Return the group's committed offset on each partition it has committed on."""
        if not partitions:
            return {}
        if self._admin is None:
            self._admin = AIOKafkaAdminClient(**client_options(self._settings))
            await self._call("connect the admin client", self._admin.start())
        # Tansu rejects the request without an explicit partition list; Apache Kafka accepts both.
        offsets = await self._call(
            f"read the committed offsets of group {group}",
            self._admin.list_consumer_group_offsets(group, partitions=list(partitions)),
        )
        return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}

    async def read(
        self, starts: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int]
    ) -> list[Record]:
        """Read each partition from its start offset up to (not including) its end offset.

        Returns the records in topic-partition, then offset, order. Reassigns the consumer.
        """
        to_read = {tp: start for tp, start in starts.items() if start < ends.get(tp, 0)}
        if not to_read:
            return []
        self.consumer.assign(list(to_read))
        for tp, start in to_read.items():
            self.consumer.seek(tp, start)
        records: dict[TopicPartition, list[Record]] = {tp: [] for tp in to_read}
        pending = set(to_read)
        try:
            async with asyncio.timeout(self._timeout):
                while pending:
                    batch = await self.consumer.getmany(*pending, timeout_ms=200)
                    for tp, messages in batch.items():
                        records[tp] += [m for m in messages if m.offset < ends[tp]]
                    for tp in list(pending):
                        if await self.consumer.position(tp) >= ends[tp]:
                            pending.discard(tp)
        except (KafkaError, TimeoutError) as exc:
            raise BrokerUnavailableError(
                f"could not read {sorted({tp.topic for tp in pending})} to the end "
                f"within {self._timeout:g} s: {describe_error(exc)}; set OPERATOR_TIMEOUT_SECONDS "
                "higher for a large topic"
            ) from exc
        return [record for tp in sorted(records) for record in records[tp]]

    async def read_topic(self, topic: str) -> list[Record]:
        """Read a whole topic as it is now; an absent topic reads as empty."""
        partitions = await self.partitions([topic])
        ends = await self.end_offsets(partitions)
        return await self.read(await self.beginning_offsets(partitions), ends)

    async def read_compacted(self, topic: str) -> dict[str, bytes]:
        """Return the last value of every key of a compacted topic; tombstones remove the key."""
        table: dict[str, bytes] = {}
        for record in await self.read_topic(topic):
            if record.key is None:
                continue
            key = record.key.decode("utf-8", "replace")
            if record.value is None:
                table.pop(key, None)
            else:
                table[key] = record.value
        return table


def describe_error(error: BaseException) -> str:
    """Return the error's class name and message, without repeating the name."""
    name = type(error).__name__
    text = str(error)
    if not text:
        return name
    return text if text.startswith(name) else f"{name}: {text}"


def render_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Render rows as a plain-text table: columns padded to their widest cell, integers
    right-aligned, None shown as "-"."""
    table = [list(row) for row in rows]
    cells = [[_cell(value) for value in row] for row in table]
    widths = [len(header) for header in headers]
    for row in cells:
        for index, text in enumerate(row):
            widths[index] = max(widths[index], len(text))
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for values, texts in zip(table, cells, strict=True):
        padded = [
            text.rjust(width) if isinstance(value, int) else text.ljust(width)
            for value, text, width in zip(values, texts, widths, strict=True)
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def format_age(seconds: float) -> str:
    """Format a duration the way an operator reads it: 42s, 3m 5s, 2h 10m, 4d 3h."""
    total = max(int(seconds), 0)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def format_timestamp_ms(timestamp_ms: int | None) -> str | None:
    """Format a Kafka record timestamp (milliseconds since the epoch) as ISO-8601 UTC."""
    if timestamp_ms is None or timestamp_ms < 0:
        return None
    return isoformat(datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC))


def header_text(record: Record, name: str) -> str | None:
    """Return the last value of a record header as text, or None when absent."""
    found = None
    for key, value in record.headers or ():
        if key == name:
            found = value.decode("utf-8", "replace")
    return found
