"""``greenguard dlq list`` and ``greenguard dlq replay``: inspect and resend dead-lettered records.

A dead-letter record's ID is ``<partition>:<offset>`` on ``greenguard.dead-letter``, for example
``2:17``. The consumer pipeline writes each record there with its original key, value and
headers plus ``dlq-*`` headers saying where it came from and why it failed.

Replay sends the key, the value and the original headers (without ``dlq-*``) back to the source
topic, adding ``dlq-replayed-from: <ID>``. It then records the replay on the compacted
``greenguard.integration-state`` under the key ``dlq-replay:<ID>``, with a count and where each
copy went. ``list`` shows that count, and ``replay`` skips records already replayed unless
``--force`` is given. Replaying twice is harmless to the data because every consumer is
idempotent, but it does process the record twice.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from shared.errors import BrokerUnavailableError
from shared.events import isoformat, utc_now
from shared.kafka import Publisher
from shared.operator.common import (
    ClusterReader,
    OperatorSettings,
    Record,
    display_topic,
    format_timestamp_ms,
    header_text,
    load_settings,
    positive_int,
    render_table,
    run_command,
)
from shared.operator.tail import json_line
from shared.topics import DEAD_LETTER, INTEGRATION_STATE, topic_name

DEFAULT_LIST_LIMIT = 100
REPLAY_HEADER = "dlq-replayed-from"
REPLAY_KEY_PREFIX = "dlq-replay:"

_DESCRIPTION = (
    "List or replay the records in greenguard.dead-letter. A record's ID is "
    "<partition>:<offset>, as `dlq list` shows it. Replay sends the original key, value and "
    "headers back to the source topic with a dlq-replayed-from header, and records the replay "
    "on greenguard.integration-state; records already replayed are skipped unless --force is "
    "given. A second replay is harmless because the consumers are idempotent, but the record is "
    "processed twice."
)


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the ``list`` and ``replay`` subcommands."""
    parser.description = _DESCRIPTION
    actions = parser.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)

    listing = actions.add_parser(
        "list",
        help="show the dead-lettered records and why they failed",
        description="Show the newest dead-lettered records: ID, time, source, consumer group, "
        "error, attempts, key, replays and reason. The value is printed only with --json.",
    )
    listing.add_argument(
        "--limit",
        type=positive_int,
        default=DEFAULT_LIST_LIMIT,
        metavar="N",
        help=f"show the newest N records (default: {DEFAULT_LIST_LIMIT})",
    )
    listing.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per record, value included (it may hold personal data)",
    )

    replay = actions.add_parser(
        "replay",
        help="send dead-lettered records back to their source topic",
        description=_DESCRIPTION,
    )
    selection = replay.add_mutually_exclusive_group(required=True)
    selection.add_argument(
        "--id",
        action="append",
        type=parse_id,
        metavar="ID",
        help="replay the record with this ID (<partition>:<offset>); repeat for several",
    )
    selection.add_argument("--all", action="store_true", help="replay every dead-lettered record")
    replay.add_argument(
        "--dry-run", action="store_true", help="print what would be sent and send nothing"
    )
    replay.add_argument(
        "--force", action="store_true", help="replay records that were already replayed"
    )


def main(args: argparse.Namespace) -> int:
    """Run ``list`` or ``replay`` and return the exit status."""
    settings = load_settings()
    if args.dlq_command == "list":
        return run_command("dlq", list_command(settings, args.limit, as_json=args.json))
    ids = None if args.all else list(args.id)
    return run_command("dlq", replay_command(settings, ids, dry_run=args.dry_run, force=args.force))


def parse_id(text: str) -> tuple[int, int]:
    """Parse a dead-letter ID ``<partition>:<offset>``; argparse reports the error."""
    partition, _, offset = text.partition(":")
    if not (partition.isdigit() and offset.isdigit()):
        raise argparse.ArgumentTypeError(
            f"invalid ID {text!r}, expected <partition>:<offset> as `greenguard dlq list` "
            "shows it, for example 0:12"
        )
    return int(partition), int(offset)


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered record and the failure its ``dlq-*`` headers describe."""

    record: Record

    @property
    def id(self) -> str:
        return f"{self.record.partition}:{self.record.offset}"

    @property
    def key(self) -> str | None:
        key = self.record.key
        return key.decode("utf-8", "replace") if key is not None else None

    @property
    def source_topic(self) -> str | None:
        return header_text(self.record, "dlq-source-topic")

    def source(self, prefix: str) -> str:
        """Format the source as ``topic:partition:offset``, the topic without KAFKA_TOPIC_PREFIX."""
        topic = self.source_topic
        if topic is None:
            return "unknown"
        partition = header_text(self.record, "dlq-source-partition") or "?"
        offset = header_text(self.record, "dlq-source-offset") or "?"
        return f"{display_topic(topic, prefix)}:{partition}:{offset}"

    def replay_headers(self) -> list[tuple[str, bytes]]:
        """Build the replayed copy's headers: the original ones without ``dlq-*``, plus
        ``dlq-replayed-from: <ID>``."""
        kept = [
            (name, value)
            for name, value in self.record.headers or ()
            if not name.startswith("dlq-")
        ]
        return [*kept, (REPLAY_HEADER, self.id.encode())]

    def to_dict(self, prefix: str, replays: Mapping[str, Any] | None) -> dict[str, Any]:
        """Build the ``list --json`` form; ``record`` is the record as ``tail --json`` prints it."""
        attempts = header_text(self.record, "dlq-attempts")
        source_partition = header_text(self.record, "dlq-source-partition")
        source_offset = header_text(self.record, "dlq-source-offset")
        return {
            "id": self.id,
            "time": format_timestamp_ms(self.record.timestamp),
            "source_topic": display_topic(self.source_topic or "", prefix) or None,
            "source_partition": _int_or_none(source_partition),
            "source_offset": _int_or_none(source_offset),
            "group": _display_or_none(header_text(self.record, "dlq-consumer-group"), prefix),
            "error": header_text(self.record, "dlq-error"),
            "reason": header_text(self.record, "dlq-reason"),
            "attempts": _int_or_none(attempts),
            "key": self.key,
            "replays": dict(replays) if replays else None,
            "record": orjson.loads(json_line(self.record)),
        }


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def _display_or_none(name: str | None, prefix: str) -> str | None:
    return display_topic(name, prefix) if name is not None else None


async def read_dead_letters(
    reader: ClusterReader, settings: OperatorSettings, limit: int | None
) -> tuple[list[DeadLetter], int]:
    """Return the newest ``limit`` dead letters (all when None), oldest first, and how many the
    topic contains in total."""
    topic = topic_name(DEAD_LETTER, settings.kafka_topic_prefix)
    partitions = await reader.partitions([topic])
    ends = await reader.end_offsets(partitions)
    beginnings = await reader.beginning_offsets(partitions)
    total = sum(ends[tp] - beginnings[tp] for tp in partitions)
    starts = dict(beginnings)
    if limit is not None:
        # The newest N of the topic are among the newest N of each partition.
        starts = {tp: max(beginnings[tp], ends[tp] - limit) for tp in partitions}
    records = await reader.read(starts, ends)
    records.sort(key=lambda record: (record.timestamp, record.partition, record.offset))
    if limit is not None:
        records = records[-limit:]
    return [DeadLetter(record) for record in records], total


async def read_replays(reader: ClusterReader, settings: OperatorSettings) -> dict[str, Any]:
    """Return the replay ledger: dead-letter ID → what ``record_replay`` stored for it."""
    state = await reader.read_compacted(topic_name(INTEGRATION_STATE, settings.kafka_topic_prefix))
    ledger = {}
    for key, value in state.items():
        if key.startswith(REPLAY_KEY_PREFIX):
            try:
                ledger[key.removeprefix(REPLAY_KEY_PREFIX)] = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue  # written by something else under our prefix; not ours to judge
    return ledger


async def list_command(settings: OperatorSettings, limit: int, *, as_json: bool) -> int:
    """Print the newest dead letters as a table (or JSON lines); exit status 0."""
    prefix = settings.kafka_topic_prefix
    async with ClusterReader(settings, settings.operator_timeout_seconds) as reader:
        letters, total = await read_dead_letters(reader, settings, limit)
        replays = await read_replays(reader, settings) if letters else {}
    if as_json:
        for letter in letters:
            print(orjson.dumps(letter.to_dict(prefix, replays.get(letter.id))).decode())
        return 0
    if not letters:
        print("greenguard.dead-letter is empty")
        return 0
    print(render_dead_letters(letters, replays, prefix))
    if total > len(letters):
        print(f"\nshowing the newest {len(letters)} of {total} records; see --limit")
    return 0


def render_dead_letters(
    letters: Sequence[DeadLetter], replays: Mapping[str, Any], prefix: str
) -> str:
    """Return the table that ``dlq list`` prints; the reason is the last column, unshortened."""
    headers = (
        "ID",
        "TIME",
        "SOURCE",
        "GROUP",
        "ERROR",
        "ATTEMPTS",
        "KEY",
        "REPLAYED",
        "REASON",
    )
    rows = []
    for letter in letters:
        row = letter.to_dict(prefix, replays.get(letter.id))
        rows.append(
            (
                letter.id,
                row["time"],
                letter.source(prefix),
                row["group"],
                row["error"],
                row["attempts"],
                row["key"],
                _replay_count(replays.get(letter.id)),
                row["reason"],
            )
        )
    return render_table(headers, rows)


def _replay_count(entry: Mapping[str, Any] | None) -> str:
    if not entry:
        return "no"
    count = entry.get("count")
    return f"{count}x" if isinstance(count, int) else "yes"


async def replay_command(
    settings: OperatorSettings,
    ids: Sequence[tuple[int, int]] | None,
    *,
    dry_run: bool,
    force: bool,
) -> int:
    """Replay the given dead letters, or all of them when ``ids`` is None.

    Returns 0 when each one was replayed or, under ``--all``, skipped as replayed before.
    Returns 1 when one was not found, could not be sent, or was named by ID and skipped.
    """
    prefix = settings.kafka_topic_prefix
    async with ClusterReader(settings, settings.operator_timeout_seconds) as reader:
        if ids is None:
            letters, _total = await read_dead_letters(reader, settings, limit=None)
            missing: list[str] = []
        else:
            letters, missing = await _find(reader, settings, ids)
        replays = await read_replays(reader, settings)
        ledger_topic = topic_name(INTEGRATION_STATE, prefix)
        existing = set(
            await reader.existing_topics(
                [ledger_topic, *{letter.source_topic or "" for letter in letters}]
            )
        )
    for text in missing:
        print(f"{text}: not found in greenguard.dead-letter; see `greenguard dlq list`")
    failures = len(missing)
    if ids is None and not letters:
        print("greenguard.dead-letter is empty; nothing to replay")
        return 0
    if letters and ledger_topic not in existing and not dry_run:
        # Publishing would auto-create it with the broker's defaults instead of as compacted.
        print(
            f"cannot record replays: the topic {ledger_topic} does not exist; start any "
            "Greenguard service once so that it creates its topics, then replay again"
        )
        return 1
    publisher = None if dry_run else Publisher(settings)
    try:
        if publisher is not None:
            await publisher.start()
        for letter in letters:
            outcome = await _replay_one(
                letter, replays.get(letter.id), existing, publisher, prefix, force=force
            )
            if outcome == "failed" or (outcome == "skipped" and ids is not None):
                failures += 1
    finally:
        if publisher is not None:
            await publisher.stop()
    return 1 if failures else 0


async def _find(
    reader: ClusterReader, settings: OperatorSettings, ids: Sequence[tuple[int, int]]
) -> tuple[list[DeadLetter], list[str]]:
    topic = topic_name(DEAD_LETTER, settings.kafka_topic_prefix)
    partitions = {tp.partition: tp for tp in await reader.partitions([topic])}
    requested = {(partition, offset) for partition, offset in ids if partition in partitions}
    ends = await reader.end_offsets(list(partitions.values()))
    found = []
    # One partition at a time, so that the end of the read is the wanted offset + 1.
    for partition, offset in sorted(requested):
        tp = partitions[partition]
        if offset < ends[tp]:
            records = await reader.read({tp: offset}, {tp: offset + 1})
            found += [DeadLetter(record) for record in records if record.offset == offset]
    found_ids = {letter.id for letter in found}
    missing = [f"{p}:{o}" for p, o in ids if f"{p}:{o}" not in found_ids]
    return found, missing


async def _replay_one(
    letter: DeadLetter,
    previous: Mapping[str, Any] | None,
    existing_topics: set[str],
    publisher: Publisher | None,
    prefix: str,
    *,
    force: bool,
) -> str:
    """Replay one dead letter; return "replayed", "skipped" or "failed" after printing why."""
    topic = letter.source_topic
    if topic is None:
        print(f"{letter.id}: cannot replay, the dlq-source-topic header is missing")
        return "failed"
    if topic not in existing_topics:
        print(f"{letter.id}: cannot replay, the source topic {topic} does not exist")
        return "failed"
    target = display_topic(topic, prefix)
    if previous and not force:
        print(
            f"{letter.id}: skipped, already replayed ({_replay_count(previous)}, last at "
            f"{previous.get('last_replayed_at', '?')}); pass --force to replay it again"
        )
        return "skipped"
    if publisher is None:
        print(f"{letter.id}: would replay to {target} (key {letter.key})")
        return "replayed"
    try:
        partition, offset = await publisher.publish(
            topic, letter.key, letter.record.value, letter.replay_headers()
        )
    except BrokerUnavailableError as exc:
        print(f"{letter.id}: replay failed: {exc}")
        return "failed"
    print(f"{letter.id}: replayed to {target} partition {partition} offset {offset}")
    try:
        await record_replay(publisher, letter, previous, topic, partition, offset, utc_now())
    except BrokerUnavailableError as exc:
        # The copy is out; only the ledger entry is missing, so a later replay would not skip it.
        print(
            f"{letter.id}: the replay could not be recorded on greenguard.integration-state: {exc}"
        )
        return "failed"
    return "replayed"


async def record_replay(
    publisher: Publisher,
    letter: DeadLetter,
    previous: Mapping[str, Any] | None,
    topic: str,
    partition: int,
    offset: int,
    moment: datetime,
) -> None:
    """Store on greenguard.integration-state that ``letter`` was replayed once more."""
    copies = list(previous.get("copies", [])) if previous else []
    copies.append(
        {"topic": topic, "partition": partition, "offset": offset, "at": isoformat(moment)}
    )
    entry = {
        "id": letter.id,
        "count": len(copies),
        "last_replayed_at": isoformat(moment),
        "copies": copies,
    }
    await publisher.publish(
        INTEGRATION_STATE, f"{REPLAY_KEY_PREFIX}{letter.id}", orjson.dumps(entry)
    )
