"""Leader election: exactly one poller of an installation talks to Harvest at a time.

Every replica joins the consumer group ``KAFKA_TOPIC_PREFIX + CONSUMER_GROUP`` subscribed to the
single-partition topic ``greenguard.poller-leader``, which no client writes. The group coordinator
assigns that partition to one member: that member is the active poller, the others wait.
Kafka decides membership, so no other coordination service is needed.

- **Takeover.** When the active member dies, the coordinator drops it once its session times out
  (``KAFKA_SESSION_TIMEOUT_MS``, 10 s by default) and hands the partition to a standby in the
  next group join; a member that stops cleanly leaves the group at once.
- **Stickiness.** The assignor below keeps the partition with its current holder when members
  join, so starting a replica does not move the work.
- **Stepping down.** A revoked partition cancels the polling task before the rebalance goes on
  (``on_partitions_revoked``). A member may also lose its session without hearing about it: a
  network partition, or an event loop blocked so long that no heartbeat went out. So the
  holder confirms its membership every heartbeat interval by committing offset 0 of the
  partition, which the coordinator rejects from a member it has dropped, and it acts only
  within a lease of ``session timeout - 2 heartbeat intervals`` from the last confirmation
  sent. The poll jobs call ``check()`` between the records they read and before every request
  and write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)
from aiokafka.errors import KafkaError

from services.poller import metrics
from services.poller.settings import PollerSettings
from shared.errors import BrokerUnavailableError, GreenguardError
from shared.health import Health
from shared.kafka import client_options
from shared.logging import get_logger
from shared.topics import POLLER_LEADER, topic_name

log = get_logger(__name__)


class LeadershipLostError(GreenguardError):
    """Raised by ``LeaderElection.check`` when this process must stop polling at once."""


class IncumbentAssignor(AbstractPartitionAssignor):  # type: ignore[misc]  # aiokafka has no type hints
    """Assign each topic's partitions to one member, preferring the member that held them.

    aiokafka calls assignors through the class and keeps no instance. So each
    ``LeaderElection`` makes a subclass of its own (``incumbent_assignor()``), whose
    ``owned_topics`` belong to that consumer alone. A member's metadata lists the topics it
    owns, comma-separated.
    """

    name = "greenguard-incumbent"
    version = 0
    owned_topics: frozenset[str] = frozenset()

    @classmethod
    def metadata(cls, topics: Iterable[str]) -> Any:
        return ConsumerProtocolMemberMetadata(
            cls.version, sorted(topics), ",".join(sorted(cls.owned_topics)).encode()
        )

    @classmethod
    def assign(cls, cluster: Any, members: Mapping[str, Any]) -> dict[str, Any]:
        chosen: dict[str, list[tuple[str, list[int]]]] = {member: [] for member in members}
        topics = sorted({topic for meta in members.values() for topic in meta.subscription})
        for topic in topics:
            partitions = sorted(cluster.partitions_for_topic(topic) or ())
            subscribers = sorted(m for m, meta in members.items() if topic in meta.subscription)
            owners = [m for m in subscribers if topic in _owned_topics(members[m].user_data)]
            if partitions:
                chosen[(owners or subscribers)[0]].append((topic, partitions))
        return {
            member: ConsumerProtocolMemberAssignment(cls.version, assignment, b"")
            for member, assignment in chosen.items()
        }

    @classmethod
    def on_assignment(cls, assignment: Any) -> None:
        cls.owned_topics = frozenset(topic for topic, _partitions in assignment.assignment)


def _owned_topics(user_data: bytes | None) -> set[str]:
    return set(user_data.decode(errors="replace").split(",")) - {""} if user_data else set()


def incumbent_assignor() -> type[IncumbentAssignor]:
    """Return a fresh assignor class that owns no topic yet."""
    return type("IncumbentAssignor", (IncumbentAssignor,), {"owned_topics": frozenset()})


Lead = Callable[[], Coroutine[Any, Any, None]]


class LeaderElection:
    """Group membership of one poller, running ``lead()`` while this member is the leader."""

    def __init__(
        self,
        settings: PollerSettings,
        *,
        health: Health | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        topic = topic_name(POLLER_LEADER, settings.kafka_topic_prefix)
        self._partition = TopicPartition(topic, 0)
        self._group_id = settings.group_id
        self._lease_seconds = settings.lease_seconds
        self._renew_seconds = settings.kafka_heartbeat_interval_ms / 1000
        self._health = health
        self._clock = clock
        self._consumer = AIOKafkaConsumer(
            **client_options(settings),
            group_id=settings.group_id,
            enable_auto_commit=False,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            partition_assignment_strategy=(incumbent_assignor(),),
        )
        self._owns_partition = False
        self._lease_until = 0.0
        self._task: asyncio.Task[None] | None = None
        self._task_lock = asyncio.Lock()
        self._failure: BaseException | None = None
        self._stopping = asyncio.Event()
        # Set once the group assigned this member its share, even an empty one.
        self.joined = asyncio.Event()

    @property
    def active(self) -> bool:
        """Whether this member owns the partition and its lease has not run out."""
        return self._owns_partition and self._clock() < self._lease_until

    def check(self) -> None:
        """Raise LeadershipLostError unless this member may act as the poller right now."""
        if not self.active:
            raise LeadershipLostError(
                f"this poller is no longer the leader of group {self._group_id}"
            )

    def stop(self) -> None:
        """Ask ``run`` to stop leading and leave the group; safe to call twice."""
        self._stopping.set()

    async def run(self, lead: Lead) -> None:
        """Join the group and run ``lead`` whenever this member leads, until ``stop()``.

        Re-raises the first error of ``lead`` other than LeadershipLostError, after leaving
        the group so that a standby takes over at once.
        """
        if self._health is not None:
            self._health.set_ready("election", False, "joining the poller group")
        try:
            await self._consumer.start()
        except KafkaError as exc:
            await self._consumer.stop()
            raise BrokerUnavailableError(
                f"cannot join the poller group {self._group_id}: {type(exc).__name__}"
            ) from exc
        self._consumer.subscribe([self._partition.topic], listener=_Listener(self))
        log.info("poller_election_started", group=self._group_id, topic=self._partition.topic)
        try:
            while not self._stopping.is_set():
                await self._wait_for_group()
                await self._renew_lease()
                await self._supervise(lead)
                if self._failure is not None:
                    raise self._failure
                if self._health is not None:
                    self._health.beat()
        finally:
            await self._stop_leading("stopping")
            await self._consumer.stop()
            log.info("poller_election_left", group=self._group_id)

    async def _wait_for_group(self) -> None:
        # Calling getmany keeps this member within max_poll_interval_ms; the topic is empty.
        try:
            await self._consumer.getmany(timeout_ms=int(self._renew_seconds * 1000))
        except KafkaError as exc:
            log.warning("poller_group_error", group=self._group_id, error=type(exc).__name__)

    async def _renew_lease(self) -> None:
        if not self._owns_partition:
            return
        sent = self._clock()
        try:
            async with asyncio.timeout(self._lease_seconds):
                await self._consumer.commit({self._partition: 0})
        except (KafkaError, TimeoutError) as exc:
            log.warning(
                "poller_lease_not_renewed",
                group=self._group_id,
                error=type(exc).__name__,
                seconds_left=round(max(0.0, self._lease_until - self._clock()), 3),
            )
            return
        if self._owns_partition:
            self._lease_until = max(self._lease_until, sent + self._lease_seconds)

    async def _supervise(self, lead: Lead) -> None:
        async with self._task_lock:
            if self._task is not None and self._task.done():
                await self._collect()
            if self.active and self._task is None:
                log.info("poller_leadership_acquired", group=self._group_id)
                metrics.ACTIVE.set(1)
                self._task = asyncio.create_task(lead(), name="poller-lead")
        if not self.active:
            reason = "lease_expired" if self._owns_partition else "partition_revoked"
            await self._stop_leading(reason)

    async def _stop_leading(self, reason: str) -> None:
        # The lock makes a revocation wait until a stop already under way has finished.
        async with self._task_lock:
            if self._task is None:
                return
            self._task.cancel()
            await self._collect()
        log.info("poller_leadership_released", group=self._group_id, reason=reason)

    async def _collect(self) -> None:
        task, self._task = self._task, None
        metrics.ACTIVE.set(0)
        if task is None:
            return
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
        except LeadershipLostError:
            log.info("poller_lead_stopped", group=self._group_id, reason="lease_expired")
        except Exception as exc:  # noqa: BLE001 (kept and re-raised by run, once)
            if self._failure is None:
                self._failure = exc

    def _assigned(self, partitions: Iterable[TopicPartition]) -> None:
        self.joined.set()
        if self._health is not None:
            self._health.set_ready("election", True)
        self._owns_partition = self._partition in set(partitions)
        if self._owns_partition:
            # The assignment itself confirms the membership.
            self._lease_until = self._clock() + self._lease_seconds

    async def _revoked(self) -> None:
        self._owns_partition = False
        await self._stop_leading("partition_revoked")


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka has no type hints
    def __init__(self, election: LeaderElection) -> None:
        self._election = election

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._election._revoked()

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._election._assigned(assigned)
