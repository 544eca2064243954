"""``greenguard lag``: how far each consumer group is behind, per partition.

Lag on a partition is its end offset minus the group's committed offset: the number of records
the group has not finished yet. The command reports every partition of the Greenguard topics on
which the group has committed an offset. Exit status 0, or 69 when Kafka cannot be reached.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from shared.operator.common import (
    KNOWN_GROUPS,
    ClusterReader,
    OperatorSettings,
    PartitionLag,
    all_topic_names,
    collect_lag,
    display_topic,
    group_name,
    load_settings,
    render_table,
    run_command,
)


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the command's options."""
    parser.add_argument(
        "--group",
        action="append",
        metavar="GROUP",
        help="report this consumer group; KAFKA_TOPIC_PREFIX is added unless the name already "
        "starts with it; repeat for several (default: " + ", ".join(KNOWN_GROUPS) + ")",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def main(args: argparse.Namespace) -> int:
    """Print the lag table (or JSON) and return the exit status."""
    settings = load_settings()
    return run_command("lag", _run(settings, args.group, as_json=args.json))


async def _run(settings: OperatorSettings, groups: Sequence[str] | None, *, as_json: bool) -> int:
    lag = await gather_lag(settings, groups)
    prefix = settings.kafka_topic_prefix
    if as_json:
        print(orjson.dumps(lag_document(lag, prefix)).decode())
    else:
        print(render_lag(lag, prefix))
    return 0


async def gather_lag(
    settings: OperatorSettings, groups: Sequence[str] | None = None
) -> dict[str, list[PartitionLag]]:
    """Return the lag of the given groups (default: the Greenguard groups), keyed by the
    group's name on the cluster."""
    prefix = settings.kafka_topic_prefix
    names = [group_name(group, prefix) for group in groups or KNOWN_GROUPS]
    async with ClusterReader(settings, settings.operator_timeout_seconds) as reader:
        return await collect_lag(reader, names, all_topic_names(prefix))


def lag_document(lag: Mapping[str, Sequence[PartitionLag]], prefix: str) -> dict[str, Any]:
    """Return the JSON form: per group, the total lag and one entry per partition.

    Group and topic names are given without KAFKA_TOPIC_PREFIX, which is a field of its own.
    """
    groups = []
    for group, rows in lag.items():
        groups.append(
            {
                "group": display_topic(group, prefix),
                "total_lag": sum(row.lag for row in rows),
                "partitions": [
                    {
                        "topic": display_topic(row.topic, prefix),
                        "partition": row.partition,
                        "committed": row.committed,
                        "end": row.end,
                        "lag": row.lag,
                    }
                    for row in rows
                ],
            }
        )
    return {"topic_prefix": prefix, "groups": groups}


def render_lag(lag: Mapping[str, Sequence[PartitionLag]], prefix: str) -> str:
    """Return the table of partitions, then one summary line per group."""
    rows = [
        (
            display_topic(row.group, prefix),
            display_topic(row.topic, prefix),
            row.partition,
            row.committed,
            row.end,
            row.lag,
        )
        for group_rows in lag.values()
        for row in group_rows
    ]
    lines = []
    if rows:
        headers = ("GROUP", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG")
        lines += [render_table(headers, rows), ""]
    for group, group_rows in lag.items():
        lines.append(f"{display_topic(group, prefix)}: {summarize_group(group_rows)}")
    return "\n".join(lines)


def summarize_group(rows: Sequence[PartitionLag]) -> str:
    """Return one phrase for a group: its total lag, or that it has committed nothing yet."""
    if not rows:
        return "no committed offsets yet"
    total = sum(row.lag for row in rows)
    behind = sum(1 for row in rows if row.lag)
    noun = "partition" if len(rows) == 1 else "partitions"
    return f"lag {total} ({behind} of {len(rows)} {noun} behind)"
