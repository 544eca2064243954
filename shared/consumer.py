"""The consumer pipeline: per-key order, partitions in parallel, commit after side effects.

Delivery policy "commit after effect": one fetch loop reads records and hands each partition's
records to that partition's own task, which runs the handler on them one at a time, in offset
order. An offset is committed only once the handler finished every earlier record of that
partition, either successfully or by dead-lettering it. A crash therefore redelivers the
uncommitted records, so handlers must be idempotent.

Failures are sorted by the error's ``retriable`` attribute (see ``shared.errors``):
- retriable errors are retried in place with jittered exponential backoff, up to
  ``max_attempts``; only that partition waits, the fetch loop pauses it meanwhile;
- other errors, and retriable ones that exhausted their attempts, send the record to the
  dead-letter topic with headers naming the reason, the source and the attempt count;
- when ``max_consecutive_failures`` records in a row end in the dead-letter topic, the worker
  stops with ``PipelineHaltedError`` rather than dead-lettering everything.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from prometheus_client import Counter, Gauge

from shared.errors import GreenguardError
from shared.health import Health
from shared.kafka import Publisher, client_options
from shared.logging import get_logger
from shared.settings import KafkaSettings
from shared.topics import DEAD_LETTER

log = get_logger(__name__)

T = TypeVar("T")
Decoder = Callable[[ConsumerRecord[bytes, bytes]], T]
Handler = Callable[[T, ConsumerRecord[bytes, bytes]], Awaitable[None]]

RECORDS = Counter(
    "greenguard_records_total",
    "Records handled by a consumer pipeline, by group and outcome.",
    ["group", "outcome"],
)
RETRIES = Counter(
    "greenguard_record_retries_total", "Retries of a record after a retriable error.", ["group"]
)
IN_FLIGHT = Gauge("greenguard_records_in_flight", "Records fetched and not yet handled.", ["group"])


class PipelineHaltedError(GreenguardError):
    """Raised when too many records in a row failed: something is wrong beyond one record."""


@dataclass
class PipelineOptions:
    """Tuning of one consumer pipeline."""

    max_attempts: int = 8
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    max_consecutive_failures: int = 25
    max_buffered_per_partition: int = 500
    fetch_max_records: int = 500
    commit_interval_seconds: float = 1.0


@dataclass
class _PartitionState:
    # None is the sentinel that ends the partition's task once its current record is done.
    queue: asyncio.Queue[ConsumerRecord[bytes, bytes] | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    next_offset: int | None = None  # the offset to commit: one past the last finished record
    committed: int | None = None


class ConsumerPipeline(Generic[T]):
    """Consume ``topics`` in ``group_id`` and run ``handler`` on each decoded record."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        topics: list[str],
        group_id: str,
        decode: Decoder[T],
        handler: Handler[T],
        publisher: Publisher,
        health: Health,
        options: PipelineOptions | None = None,
    ) -> None:
        self._settings = settings
        self._topics = topics
        self._group_id = group_id
        self._decode = decode
        self._handler = handler
        self._publisher = publisher
        self._health = health
        self._options = options or PipelineOptions()
        self._partitions: dict[TopicPartition, _PartitionState] = {}
        self._consecutive_failures = 0
        self._halt: PipelineHaltedError | None = None
        self._stopping = asyncio.Event()
        self._consumer = AIOKafkaConsumer(
            **client_options(settings),
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            max_poll_interval_ms=max(300_000, settings.kafka_session_timeout_ms * 3),
        )
        self.handled = 0
        self.abandoned = 0
        # Not ready until the consumer runs, whatever the other checks of the process report.
        health.set_ready("consumer", False, "not started")

    def stop(self) -> None:
        """Ask the fetch loop to stop; ``run`` then drains and returns."""
        self._stopping.set()

    async def run(self, grace_seconds: float = 20.0) -> None:
        """Consume until ``stop`` is called, then finish in-flight records within the grace."""
        listener = _Rebalance(self)
        await self._consumer.start()
        self._consumer.subscribe(self._topics, listener=listener)
        self._health.set_ready("consumer", True)
        log.info("consumer_started", group=self._group_id, topics=self._topics)
        try:
            await self._fetch_loop()
        finally:
            self._health.set_ready("consumer", False)
            await self._drain(grace_seconds)
            await self._consumer.stop()
            log.info(
                "consumer_stopped",
                group=self._group_id,
                handled=self.handled,
                abandoned=self.abandoned,
            )
        if self._halt is not None:
            raise self._halt

    async def _fetch_loop(self) -> None:
        last_commit = time.monotonic()
        while not self._stopping.is_set() and self._halt is None:
            self._health.beat()
            batch = await self._consumer.getmany(
                timeout_ms=200, max_records=self._options.fetch_max_records
            )
            for tp, records in batch.items():
                state = self._partition(tp)
                for record in records:
                    state.queue.put_nowait(record)
                IN_FLIGHT.labels(self._group_id).inc(len(records))
                if state.queue.qsize() >= self._options.max_buffered_per_partition:
                    self._consumer.pause(tp)
            self._resume_drained()
            self._raise_if_partition_task_failed()
            if time.monotonic() - last_commit >= self._options.commit_interval_seconds:
                await self._commit()
                last_commit = time.monotonic()
        await self._commit()

    def _partition(self, tp: TopicPartition) -> _PartitionState:
        state = self._partitions.get(tp)
        if state is None:
            state = _PartitionState()
            state.task = asyncio.create_task(self._work(tp, state), name=f"partition-{tp}")
            self._partitions[tp] = state
        return state

    def _resume_drained(self) -> None:
        paused = self._consumer.paused()
        for tp in paused:
            state = self._partitions.get(tp)
            if state is None or state.queue.qsize() < self._options.max_buffered_per_partition // 2:
                self._consumer.resume(tp)

    def _raise_if_partition_task_failed(self) -> None:
        for state in self._partitions.values():
            if state.task is not None and state.task.done() and not state.task.cancelled():
                error = state.task.exception()
                if error is not None:
                    raise error

    async def _work(self, tp: TopicPartition, state: _PartitionState) -> None:
        while True:
            record = await state.queue.get()
            if record is None:
                return
            try:
                await self._process(record)
            finally:
                IN_FLIGHT.labels(self._group_id).dec()
            state.next_offset = record.offset + 1
            self._health.beat()
            if self._halt is not None:
                return

    async def _process(self, record: ConsumerRecord[bytes, bytes]) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                value = self._decode(record)
                await self._handler(value, record)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 (sorted by retriable below; none is swallowed)
                retriable = bool(getattr(exc, "retriable", False))
                if retriable and attempt < self._options.max_attempts:
                    RETRIES.labels(self._group_id).inc()
                    delay = self._backoff(attempt)
                    log.warning(
                        "record_retry_scheduled",
                        group=self._group_id,
                        topic=record.topic,
                        partition=record.partition,
                        offset=record.offset,
                        attempt=attempt,
                        delay_seconds=round(delay, 2),
                        error=type(exc).__name__,
                        reason=str(exc),
                    )
                    await asyncio.sleep(delay)
                    continue
                await self._dead_letter(record, exc, attempt)
                return
            self._consecutive_failures = 0
            self.handled += 1
            RECORDS.labels(self._group_id, "ok").inc()
            return

    def _backoff(self, attempt: int) -> float:
        ceiling = min(
            self._options.backoff_max_seconds,
            self._options.backoff_initial_seconds * 2 ** (attempt - 1),
        )
        return random.uniform(ceiling / 2, ceiling)

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], error: BaseException, attempts: int
    ) -> None:
        headers = [
            # Earlier dead-letter reasons are replaced; the replay marker shows this is a retry.
            *[
                (k, v)
                for k, v in (record.headers or ())
                if not k.startswith("dlq-") or k == "dlq-replayed-from"
            ],
            ("dlq-reason", _reason(error).encode()),
            ("dlq-error", type(error).__name__.encode()),
            ("dlq-source-topic", record.topic.encode()),
            ("dlq-source-partition", str(record.partition).encode()),
            ("dlq-source-offset", str(record.offset).encode()),
            ("dlq-consumer-group", self._group_id.encode()),
            ("dlq-attempts", str(attempts).encode()),
        ]
        key = record.key.decode("utf-8", "replace") if record.key is not None else None
        # A failed dead-letter write raises BrokerUnavailableError: the record stays uncommitted.
        while True:
            try:
                await self._publisher.publish(DEAD_LETTER, key, record.value, headers)
                break
            except GreenguardError as exc:
                if not exc.retriable:
                    raise
                log.warning("dead_letter_write_failed", group=self._group_id, error=str(exc))
                await asyncio.sleep(1.0)
        RECORDS.labels(self._group_id, "dead_lettered").inc()
        log.error(
            "record_dead_lettered",
            group=self._group_id,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            attempts=attempts,
            error=type(error).__name__,
            reason=_reason(error),
        )
        self._consecutive_failures += 1
        if self._consecutive_failures >= self._options.max_consecutive_failures:
            self._halt = PipelineHaltedError(
                f"{self._consecutive_failures} records in a row failed in group "
                f"{self._group_id}; stopping instead of dead-lettering everything. "
                "Check the dead-letter topic and Greenhouse's availability, then restart"
            )
            self._stopping.set()

    async def _commit(self, only: set[TopicPartition] | None = None) -> None:
        offsets = {
            tp: state.next_offset
            for tp, state in self._partitions.items()
            if state.next_offset is not None
            and state.next_offset != state.committed
            and (only is None or tp in only)
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The records stay uncommitted and will be redelivered; handlers are idempotent.
            log.warning("offset_commit_failed", group=self._group_id, error=type(exc).__name__)
            return
        for tp, offset in offsets.items():
            self._partitions[tp].committed = offset

    async def release(self, revoked: set[TopicPartition], grace_seconds: float) -> None:
        """Finish or abandon the revoked partitions' records, commit what finished, forget them."""
        states = {tp: self._partitions[tp] for tp in revoked if tp in self._partitions}
        await self._finish(states, grace_seconds)
        await self._commit(only=set(states))
        for tp in states:
            self._partitions.pop(tp, None)

    async def _finish(self, states: dict[TopicPartition, _PartitionState], grace: float) -> None:
        """Let each partition task finish its current record within the grace, then cancel."""
        for state in states.values():
            # Records not started are abandoned: they are redelivered after the commit point.
            while not state.queue.empty():
                if state.queue.get_nowait() is not None:
                    IN_FLIGHT.labels(self._group_id).dec()
                    self.abandoned += 1
            state.queue.put_nowait(None)
        tasks = [s.task for s in states.values() if s.task is not None and not s.task.done()]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if pending:
                log.warning("records_abandoned_at_grace", group=self._group_id, count=len(pending))

    async def _drain(self, grace_seconds: float) -> None:
        await self._finish(dict(self._partitions), grace_seconds)
        await self._commit()


def _reason(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text[:500]


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, pipeline: ConsumerPipeline[Any]) -> None:
        self._pipeline = pipeline

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._pipeline.release(set(revoked), grace_seconds=10.0)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions_assigned", partitions=sorted(str(tp) for tp in assigned))
