"""``greenguard status``: the state of the integration on one screen.

It reads, without a consumer group: the last connection check of each service
(``connect:<service>`` on ``greenguard.integration-state``), the last successful poll of each
resource (``mark:<resource>`` on ``greenguard.poller-state``), the number of protected users, and
the consumer lag of the Greenguard groups.

Exit status 0 when everything looks fine. 1 when no connection check is recorded, a service's
last check is not Connected, or a resource's last successful poll is older than
``--stale-after`` or three of its polling intervals, whichever is longer. A resource never
polled yet is shown as such and is not a problem. Lag is shown
but never changes the exit status. 69 when Kafka cannot be reached.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from shared.events import isoformat, parse_timestamp, utc_now
from shared.operator.common import (
    KNOWN_GROUPS,
    ClusterReader,
    OperatorSettings,
    PartitionLag,
    all_topic_names,
    collect_lag,
    display_topic,
    format_age,
    group_name,
    load_settings,
    positive_float,
    render_table,
    run_command,
)
from shared.operator.lag import summarize_group
from shared.topics import INTEGRATION_STATE, POLLER_STATE, PROTECTED_USERS, topic_name

DEFAULT_STALE_AFTER_SECONDS = 300.0
CONNECT_PREFIX = "connect:"
STALE_INTERVALS = 3
MARK_PREFIX = "mark:"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the command's options."""
    parser.description = (
        "Print the integration status, poll staleness, protected users and consumer lag. "
        "Exit status 0 when all looks fine, 1 when the integration is not Connected (or no "
        "check is recorded) or a resource's last successful poll is too old."
    )
    parser.add_argument(
        "--stale-after",
        type=positive_float,
        default=DEFAULT_STALE_AFTER_SECONDS,
        metavar="SECONDS",
        help="a resource whose last successful poll is older than this, and than three of its "
        f"polling intervals, is stale (default: {DEFAULT_STALE_AFTER_SECONDS:g})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def main(args: argparse.Namespace) -> int:
    """Print the status and return 0 when all looks fine, 1 otherwise."""
    settings = load_settings()
    return run_command("status", _run(settings, args.stale_after, as_json=args.json))


async def _run(settings: OperatorSettings, stale_after: float, *, as_json: bool) -> int:
    report = await gather_status(settings, stale_after)
    if as_json:
        print(orjson.dumps(report.to_dict()).decode())
    else:
        print(report.render())
    return 0 if report.ok else 1


@dataclass(frozen=True)
class ServiceCheck:
    """The last connection check one service recorded."""

    service: str
    status: str
    reason: str
    checked_at: datetime | None


@dataclass(frozen=True)
class PollMark:
    """The last successful poll of one resource, and whether it is too old."""

    resource: str
    last_success_at: datetime | None
    age_seconds: float | None
    stale: bool
    records_published: int | None


@dataclass(frozen=True)
class StatusReport:
    """Everything ``greenguard status`` prints; ``problems`` decides the exit status."""

    now: datetime
    stale_after_seconds: float
    topic_prefix: str
    services: list[ServiceCheck]
    polls: list[PollMark]
    protected_users: int | None
    lag: dict[str, list[PartitionLag]]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """Build the ``--json`` form: times in ISO-8601 UTC, ages in seconds, names unprefixed."""
        return {
            "ok": self.ok,
            "problems": self.problems,
            "checked_at": isoformat(self.now),
            "stale_after_seconds": self.stale_after_seconds,
            "topic_prefix": self.topic_prefix,
            "integration": [
                {
                    "service": check.service,
                    "status": check.status,
                    "reason": check.reason,
                    "checked_at": _iso(check.checked_at),
                }
                for check in self.services
            ],
            "polling": [
                {
                    "resource": mark.resource,
                    "last_success_at": _iso(mark.last_success_at),
                    "age_seconds": mark.age_seconds,
                    "stale": mark.stale,
                    "records_published": mark.records_published,
                }
                for mark in self.polls
            ],
            "protected_users": self.protected_users,
            "lag": [
                {
                    "group": display_topic(group, self.topic_prefix),
                    "total_lag": sum(row.lag for row in rows),
                    "partitions": len(rows),
                }
                for group, rows in self.lag.items()
            ],
        }

    def render(self) -> str:
        """Render the screen: one section per subject, then the problems and a verdict."""
        sections = [
            self._render_integration(),
            self._render_polling(),
            self._render_protected_users(),
            self._render_lag(),
        ]
        if self.problems:
            sections.append("Problems\n" + "\n".join(f"  - {p}" for p in self.problems))
        verdict = "OK" if self.ok else f"NOT OK ({len(self.problems)} problem(s))"
        sections.append(f"Status: {verdict}")
        return "\n\n".join(sections)

    def _render_integration(self) -> str:
        if not self.services:
            return "Integration\n  unknown: no connection check recorded yet"
        rows = [
            (check.service, check.status, self._when(check.checked_at), check.reason)
            for check in self.services
        ]
        return "Integration\n" + _indent(
            render_table(("SERVICE", "STATUS", "CHECKED", "REASON"), rows)
        )

    def _render_polling(self) -> str:
        title = f"Polling (stale after {format_age(self.stale_after_seconds)})"
        if not self.polls:
            return f"{title}\n  no data yet: no successful poll recorded"
        rows = [
            (
                mark.resource,
                self._when(mark.last_success_at),
                "STALE" if mark.stale else "ok",
                mark.records_published,
            )
            for mark in self.polls
        ]
        headers = ("RESOURCE", "LAST SUCCESS", "STATE", "RECORDS PUBLISHED")
        return f"{title}\n" + _indent(render_table(headers, rows))

    def _render_protected_users(self) -> str:
        if self.protected_users is None:
            return "Protected users: unknown (greenguard.protected-users does not exist yet)"
        return f"Protected users: {self.protected_users}"

    def _render_lag(self) -> str:
        rows = [
            (display_topic(group, self.topic_prefix), summarize_group(group_rows))
            for group, group_rows in self.lag.items()
        ]
        return "Consumer lag\n" + _indent(render_table(("GROUP", "LAG"), rows))

    def _when(self, moment: datetime | None) -> str:
        if moment is None:
            return "unknown"
        age = format_age((self.now - moment).total_seconds())
        return f"{isoformat(moment)} ({age} ago)"


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def _iso(moment: datetime | None) -> str | None:
    return isoformat(moment) if moment is not None else None


def parse_services(state: Mapping[str, bytes]) -> list[ServiceCheck]:
    """Return the last connection check of each service from the integration-state table.

    A value that cannot be read shows as status "unknown" with the reason, never as a crash.
    """
    checks = []
    for key in sorted(state):
        if not key.startswith(CONNECT_PREFIX):
            continue
        service = key.removeprefix(CONNECT_PREFIX)
        document = _load_object(state[key])
        if document is None:
            checks.append(ServiceCheck(service, "unknown", "the record is not a JSON object", None))
            continue
        status = document.get("status")
        checks.append(
            ServiceCheck(
                service=service,
                status=status if isinstance(status, str) else "unknown",
                reason=str(document.get("reason") or ""),
                checked_at=parse_timestamp(document.get("checked_at")),
            )
        )
    return checks


def parse_marks(state: Mapping[str, bytes], now: datetime, stale_after: float) -> list[PollMark]:
    """Return the last successful poll of each resource from the poller-state table.

    A mark without a readable ``last_success_at`` counts as stale: the poller wrote it, so
    something was polled, but when is unknown.
    """
    marks = []
    for key in sorted(state):
        if not key.startswith(MARK_PREFIX):
            continue
        document = _load_object(state[key]) or {}
        moment = parse_timestamp(document.get("last_success_at"))
        age = (now - moment).total_seconds() if moment is not None else None
        published = document.get("records_published")
        interval = document.get("interval_seconds")
        # A resource polled every 15 minutes is not stale after 5: allow three intervals.
        threshold = stale_after
        if isinstance(interval, int | float) and not isinstance(interval, bool):
            threshold = max(stale_after, STALE_INTERVALS * float(interval))
        marks.append(
            PollMark(
                resource=str(document.get("resource") or key.removeprefix(MARK_PREFIX)),
                last_success_at=moment,
                age_seconds=age,
                stale=age is None or age > threshold,
                records_published=published if isinstance(published, int) else None,
            )
        )
    return marks


def assess(
    services: Sequence[ServiceCheck], polls: Sequence[PollMark], stale_after: float
) -> list[str]:
    """Return one sentence per problem that makes the exit status 1."""
    problems = []
    if not services:
        problems.append(
            "no connection check is recorded on greenguard.integration-state; start a service "
            "or wait for its first check"
        )
    for check in services:
        if check.status != "Connected":
            problems.append(f"{check.service} is {check.status}: {check.reason or 'no reason'}")
    for mark in polls:
        if mark.age_seconds is None:
            problems.append(f"{mark.resource}: the time of the last successful poll is unknown")
        elif mark.stale:
            problems.append(
                f"{mark.resource}: last successful poll {format_age(mark.age_seconds)} ago, "
                f"more than {format_age(stale_after)}"
            )
    return problems


async def gather_status(
    settings: OperatorSettings, stale_after: float, now: datetime | None = None
) -> StatusReport:
    """Read the state topics and the lag, and judge them at ``now`` (default: the current time)."""
    prefix = settings.kafka_topic_prefix
    async with ClusterReader(settings, settings.operator_timeout_seconds) as reader:
        integration = await reader.read_compacted(topic_name(INTEGRATION_STATE, prefix))
        poller = await reader.read_compacted(topic_name(POLLER_STATE, prefix))
        users_topic = topic_name(PROTECTED_USERS, prefix)
        protected = None
        if await reader.existing_topics([users_topic]):
            protected = len(await reader.read_compacted(users_topic))
        groups = [group_name(group, prefix) for group in KNOWN_GROUPS]
        lag = await collect_lag(reader, groups, all_topic_names(prefix))
    moment = now or utc_now()
    services = parse_services(integration)
    polls = parse_marks(poller, moment, stale_after)
    return StatusReport(
        now=moment,
        stale_after_seconds=stale_after,
        topic_prefix=prefix,
        services=services,
        polls=polls,
        protected_users=protected,
        lag=lag,
        problems=assess(services, polls, stale_after),
    )


def _load_object(value: bytes) -> dict[str, Any] | None:
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None
