"""``greenguard tail``: print the event stream as it arrives, one line per record.

The command joins no consumer group: it assigns itself every partition of the chosen topics and
starts at their end (or their beginning with ``--from-beginning``), so it never moves a service's
committed offsets. Partitions and topics created after it started are not followed.

The readable line carries the record's time, topic, partition and offset, key, type and ids,
nothing else from the value. A key or an id that contains anything but letters, digits and
``. _ : -`` (an email address, for example) prints as ``<hidden>``. ``--json`` prints the whole
record value, personal data included.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import os
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

import orjson
from aiokafka import TopicPartition

from shared.operator.common import (
    ClusterReader,
    OperatorSettings,
    Record,
    display_topic,
    format_timestamp_ms,
    header_text,
    load_settings,
    positive_float,
    positive_int,
    resolve_topic,
    run_command,
)
from shared.topics import (
    ALL_TOPICS,
    CANDIDATE_CONTEXT,
    DEAD_LETTER,
    POLLER_LEADER,
    VERIFICATION_ALERTS,
)

# Every topic that carries events; the compacted state topics are read only when named.
DEFAULT_TOPICS: tuple[str, ...] = tuple(
    spec.name for spec in ALL_TOPICS if not spec.compacted and spec is not POLLER_LEADER
)
# Topics whose key is the candidate id, for records whose value does not carry it.
_CANDIDATE_KEYED = frozenset({VERIFICATION_ALERTS.name, CANDIDATE_CONTEXT.name})
_ID_FIELDS = ("candidate_id", "application_id", "interview_id")
_SAFE_TEXT = re.compile(r"[\w.:\-]{1,100}", re.ASCII)
HIDDEN = "<hidden>"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the command's options."""
    parser.description = (
        "Print the live event stream, one line per record: time, topic, partition:offset, key, "
        "type and ids. The readable line never shows personal data. --json prints each record "
        "value as it is, personal data included: use it only where that output may go."
    )
    parser.add_argument(
        "--topic",
        action="append",
        metavar="TOPIC",
        help="read this topic (KAFKA_TOPIC_PREFIX is added unless present); repeat for several "
        "(default: " + ", ".join(DEFAULT_TOPICS) + ")",
    )
    parser.add_argument(
        "--candidate-id", type=int, metavar="N", help="print only records about this candidate"
    )
    parser.add_argument(
        "--type",
        metavar="PATTERN",
        help="print only records of this type; shell wildcards work, e.g. 'interview.*'",
    )
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        help="start at the oldest stored record instead of the end",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per record with the value as it is, personal data included",
    )
    parser.add_argument(
        "--max",
        type=positive_int,
        metavar="N",
        help="exit after printing N records (default: no limit)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        metavar="SECONDS",
        help="exit after this many seconds (default: run until Ctrl-C)",
    )


@dataclass(frozen=True)
class TailOptions:
    """Options of one tail run: topics, filters, start position and when to stop."""

    topics: tuple[str, ...] = DEFAULT_TOPICS
    candidate_id: int | None = None
    type_pattern: str | None = None
    from_beginning: bool = False
    as_json: bool = False
    max_records: int | None = None
    timeout_seconds: float | None = None


def main(args: argparse.Namespace) -> int:
    """Print records until Ctrl-C, ``--max`` or ``--timeout``; return the exit status."""
    settings = load_settings()
    options = TailOptions(
        topics=tuple(args.topic) if args.topic else DEFAULT_TOPICS,
        candidate_id=args.candidate_id,
        type_pattern=args.type,
        from_beginning=args.from_beginning,
        as_json=args.json,
        max_records=args.max,
        timeout_seconds=args.timeout,
    )
    try:
        return run_command("tail", tail(settings, options, sys.stdout))
    except BrokenPipeError:
        # The reader of our output went away (``| head``): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


async def tail(settings: OperatorSettings, options: TailOptions, out: TextIO) -> int:
    """Print matching records to ``out`` until stopped; return the exit status."""
    prefix = settings.kafka_topic_prefix
    topics = [resolve_topic(name, prefix) for name in options.topics]
    async with ClusterReader(settings, settings.operator_timeout_seconds) as reader:
        existing = await reader.existing_topics(topics)
        for topic in topics:
            if topic not in existing:
                print(f"greenguard tail: topic {topic} does not exist; skipped", file=sys.stderr)
        partitions = await reader.partitions(existing)
        if not partitions:
            print("greenguard tail: none of the topics exists; nothing to read", file=sys.stderr)
            return 1
        if options.from_beginning:
            starts = await reader.beginning_offsets(partitions)
        else:
            starts = await reader.end_offsets(partitions)
        reader.consumer.assign(partitions)
        for tp in partitions:
            reader.consumer.seek(tp, starts[tp])
        with _stop_on_signals() as stopping:
            await _print_records(reader, starts, options, prefix, out, stopping)
    return 0


async def _print_records(
    reader: ClusterReader,
    starts: dict[TopicPartition, int],
    options: TailOptions,
    prefix: str,
    out: TextIO,
    stopping: asyncio.Event,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = None if options.timeout_seconds is None else loop.time() + options.timeout_seconds
    printed = 0
    while not stopping.is_set():
        wait_ms = 200
        if deadline is not None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            wait_ms = max(1, min(wait_ms, int(remaining * 1000)))
        batch = await reader.consumer.getmany(timeout_ms=wait_ms)
        records = [
            record
            for tp, messages in batch.items()
            for record in messages
            # A start taken from a broker's ListOffsets can fall inside the last batch.
            if record.offset >= starts[tp]
        ]
        records.sort(key=lambda r: (r.timestamp, r.topic, r.partition, r.offset))
        for record in records:
            summary = summarize(record, prefix)
            if not matches(summary, options):
                continue
            line = json_line(record) if options.as_json else summary.line()
            out.write(line + "\n")
            out.flush()
            printed += 1
            if options.max_records is not None and printed >= options.max_records:
                return


@contextmanager
def _stop_on_signals() -> Iterator[asyncio.Event]:
    """Set the yielded event on SIGINT or SIGTERM instead of raising KeyboardInterrupt."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stopping.set)
            installed.append(signum)
        except (NotImplementedError, RuntimeError):
            pass  # not the main thread, or a platform without signal handlers
    try:
        yield stopping
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


@dataclass(frozen=True)
class EventSummary:
    """The part of one record that the readable line shows: ids and types, no personal data."""

    time: str
    topic: str
    position: str
    key: str
    type: str | None
    ids: tuple[tuple[str, str], ...]
    candidate_id: int | None

    def line(self) -> str:
        ids = " ".join(f"{name}={value}" for name, value in self.ids)
        parts = [self.time, self.topic, self.position, f"key={self.key}", self.type or "-", ids]
        return "  ".join(part for part in parts if part)


def summarize(record: Record, prefix: str) -> EventSummary:
    """Extract the time, type and ids of a record, hiding keys and ids that are not plain ids."""
    topic = display_topic(record.topic, prefix)
    document = _json_object(record.value)
    event_type = _safe(document.get("type"))
    if event_type is None and isinstance(document.get("kind"), str):
        event_type = _safe(f"alert.{document['kind']}")
    ids: list[tuple[str, str]] = []
    event_id = document.get("id")
    if event_id is not None:
        ids.append(("id", _safe(event_id) or HIDDEN))
    for name in _ID_FIELDS:
        value = document.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            ids.append((name, str(value)))
    severity = _safe(document.get("severity"))
    if severity:
        ids.append(("severity", severity))
    if topic == DEAD_LETTER.name:
        ids += _dead_letter_fields(record, prefix)
    key = record.key.decode("utf-8", "replace") if record.key is not None else None
    return EventSummary(
        time=format_timestamp_ms(record.timestamp) or "-",
        topic=topic,
        position=f"{record.partition}:{record.offset}",
        key="-" if key is None else (_safe(key) or HIDDEN),
        type=event_type if record.value is not None else "tombstone",
        ids=tuple(ids),
        candidate_id=_candidate_id(document, key, topic),
    )


def _dead_letter_fields(record: Record, prefix: str) -> list[tuple[str, str]]:
    fields = []
    source = header_text(record, "dlq-source-topic")
    if source is not None:
        where = ":".join(
            part or "?"
            for part in (
                display_topic(source, prefix),
                header_text(record, "dlq-source-partition"),
                header_text(record, "dlq-source-offset"),
            )
        )
        fields.append(("source", _safe(where) or HIDDEN))
    for label, header in (("error", "dlq-error"), ("group", "dlq-consumer-group")):
        value = header_text(record, header)
        if value is not None:
            fields.append((label, _safe(display_topic(value, prefix)) or HIDDEN))
    return fields


def _candidate_id(document: dict[str, Any], key: str | None, topic: str) -> int | None:
    value = document.get("candidate_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if topic in _CANDIDATE_KEYED and key is not None and key.isdigit():
        return int(key)
    return None


def matches(summary: EventSummary, options: TailOptions) -> bool:
    """Return whether a record passes the ``--candidate-id`` and ``--type`` filters."""
    if options.candidate_id is not None and summary.candidate_id != options.candidate_id:
        return False
    if options.type_pattern is not None:
        return summary.type is not None and fnmatch.fnmatchcase(summary.type, options.type_pattern)
    return True


def json_line(record: Record) -> str:
    """Return the record as one JSON object: position, time, key, headers and the value as is.

    A value that is JSON is embedded as JSON, any other value as text, a tombstone as null.
    """
    value: Any = None
    if record.value is not None:
        try:
            value = orjson.loads(record.value)
        except orjson.JSONDecodeError:
            value = record.value.decode("utf-8", "replace")
    document = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": format_timestamp_ms(record.timestamp),
        "key": record.key.decode("utf-8", "replace") if record.key is not None else None,
        "headers": {name: data.decode("utf-8", "replace") for name, data in record.headers or ()},
        "value": value,
    }
    return orjson.dumps(document).decode()


def _json_object(value: bytes | None) -> dict[str, Any]:
    if value is None:
        return {}
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return {}
    return document if isinstance(document, dict) else {}


def _safe(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    return text if _SAFE_TEXT.fullmatch(text) else None
