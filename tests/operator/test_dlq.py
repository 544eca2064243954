"""``greenguard dlq``: listing dead letters, and replaying them once unless forced."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord

from shared.consumer import ConsumerPipeline, PipelineOptions
from shared.errors import InvalidEventError
from shared.health import Health
from shared.kafka import Publisher, ensure_topics, read_to_end
from shared.operator.common import ClusterReader, OperatorSettings
from shared.operator.dlq import (
    list_command,
    parse_id,
    read_dead_letters,
    read_replays,
    replay_command,
)
from shared.topics import ALL_TOPICS, CANDIDATE_EVENTS, DEAD_LETTER, topic_name
from tests.helpers import wait_until
from tests.operator.conftest import Completed

pytestmark = pytest.mark.integration

PERSONAL_VALUE = b'{"email": "ann@example.com"}'


def dead_letter_headers(settings: OperatorSettings, offset: int) -> list[tuple[str, bytes]]:
    """The headers the consumer pipeline writes, after one original header."""
    prefix = settings.kafka_topic_prefix
    return [
        ("event-id", b"evt-9"),
        ("dlq-reason", b"record value is not valid JSON"),
        ("dlq-error", b"InvalidEventError"),
        ("dlq-source-topic", topic_name(CANDIDATE_EVENTS, prefix).encode()),
        ("dlq-source-partition", b"0"),
        ("dlq-source-offset", str(offset).encode()),
        ("dlq-consumer-group", f"{prefix}greenguard-enricher".encode()),
        ("dlq-attempts", b"1"),
    ]


async def dead_letter(settings: OperatorSettings, count: int = 1) -> list[str]:
    """Write ``count`` dead letters and return their IDs."""
    await ensure_topics(settings, ALL_TOPICS)
    publisher = Publisher(settings)
    await publisher.start()
    ids = []
    try:
        for n in range(count):
            partition, offset = await publisher.publish(
                DEAD_LETTER, f"40{n}", PERSONAL_VALUE, dead_letter_headers(settings, n)
            )
            ids.append(f"{partition}:{offset}")
    finally:
        await publisher.stop()
    return ids


async def copies_on_source(settings: OperatorSettings) -> list[ConsumerRecord[bytes, bytes]]:
    async with ClusterReader(settings, 10) as reader:
        return await reader.read_topic(topic_name(CANDIDATE_EVENTS, settings.kafka_topic_prefix))


def test_parse_id_rejects_malformed() -> None:
    assert parse_id("2:17") == (2, 17)
    for text in ("2", "a:1", "1:-3", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="expected <partition>:<offset>"):
            parse_id(text)


async def test_list_command_shows_pipeline_dead_letter(
    make_settings: Callable[..., Any], greenguard: Callable[..., Awaitable[Completed]]
) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)
    await ensure_topics(settings, ALL_TOPICS)
    publisher = Publisher(settings)
    await publisher.start()

    def decode(record: ConsumerRecord[bytes, bytes]) -> None:
        raise InvalidEventError("record value is not an event envelope")

    async def handle(_value: None, _record: ConsumerRecord[bytes, bytes]) -> None:
        return None

    pipeline = ConsumerPipeline(
        settings,
        topics=[topic_name(CANDIDATE_EVENTS, settings.kafka_topic_prefix)],
        group_id=f"{settings.kafka_topic_prefix}greenguard-enricher",
        decode=decode,
        handler=handle,
        publisher=publisher,
        health=Health(),
        options=PipelineOptions(commit_interval_seconds=0.05),
    )
    await publisher.publish(CANDIDATE_EVENTS, "4001", PERSONAL_VALUE, [("event-id", b"e1")])

    running = asyncio.create_task(pipeline.run(grace_seconds=1))
    await wait_until(
        lambda: _dead_letter_count(settings), timeout=20, message="the record dead-lettered"
    )
    pipeline.stop()
    await running
    await publisher.stop()

    table = await greenguard("dlq", "list")
    as_json = await greenguard("dlq", "list", "--json")

    assert table.returncode == 0, table.stderr
    [header, row] = table.stdout.splitlines()
    assert header.split() == [
        "ID",
        "TIME",
        "SOURCE",
        "GROUP",
        "ERROR",
        "ATTEMPTS",
        "KEY",
        "REPLAYED",
        "REASON",
    ]
    assert "greenhouse.candidate-events:" in row
    assert "greenguard-enricher  InvalidEventError" in row
    assert "4001  no" in row
    assert row.endswith("record value is not an event envelope")
    assert "example.com" not in table.stdout
    document = orjson.loads(as_json.stdout)
    assert document["record"]["value"] == orjson.loads(PERSONAL_VALUE)
    assert document["record"]["headers"]["event-id"] == "e1"
    assert document["attempts"] == 1


async def _dead_letter_count(settings: OperatorSettings) -> bool:
    return bool(await read_to_end(settings, DEAD_LETTER, timeout_seconds=5))


async def test_list_limit_keeps_newest(
    make_settings: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)
    ids = await dead_letter(settings, count=5)

    async with ClusterReader(settings, 10) as reader:
        newest, total = await read_dead_letters(reader, settings, limit=2)
        everything, _total = await read_dead_letters(reader, settings, limit=None)
    await list_command(settings, 2, as_json=False)

    assert total == 5
    assert len(newest) == 2
    assert sorted(letter.id for letter in everything) == sorted(ids)
    # Records written within one millisecond tie, so compare times rather than IDs.
    kept = {letter.id for letter in newest}
    oldest_kept = min(letter.record.timestamp for letter in newest)
    assert all(
        letter.record.timestamp <= oldest_kept for letter in everything if letter.id not in kept
    )
    assert "showing the newest 2 of 5 records" in capsys.readouterr().out


async def test_list_of_empty_topic(
    make_settings: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)

    status = await list_command(settings, 10, as_json=False)

    assert status == 0
    assert capsys.readouterr().out == "greenguard.dead-letter is empty\n"


async def test_replay_resends_key_value_and_headers(make_settings: Callable[..., Any]) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)
    [dead_id] = await dead_letter(settings)
    partition, offset = parse_id(dead_id)

    status = await replay_command(settings, [(partition, offset)], dry_run=False, force=False)

    assert status == 0
    [copy] = await copies_on_source(settings)
    assert copy.key == b"400"
    assert copy.value == PERSONAL_VALUE
    assert list(copy.headers) == [("event-id", b"evt-9"), ("dlq-replayed-from", dead_id.encode())]


async def test_replay_twice_needs_force(
    make_settings: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)
    [dead_id] = await dead_letter(settings)
    target = [parse_id(dead_id)]

    first = await replay_command(settings, target, dry_run=False, force=False)
    second = await replay_command(settings, target, dry_run=False, force=False)
    after_skip = await copies_on_source(settings)
    forced = await replay_command(settings, target, dry_run=False, force=True)
    async with ClusterReader(settings, 10) as reader:
        ledger = await read_replays(reader, settings)
    await list_command(settings, 10, as_json=False)

    assert (first, second, forced) == (0, 1, 0)
    assert len(after_skip) == 1
    assert len(await copies_on_source(settings)) == 2
    assert ledger[dead_id]["count"] == 2
    assert len(ledger[dead_id]["copies"]) == 2
    output = capsys.readouterr().out
    assert f"{dead_id}: skipped, already replayed (1x" in output
    assert "  2x  " in output


async def test_replay_all_skips_replayed(make_settings: Callable[..., Any]) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)
    ids = await dead_letter(settings, count=3)
    await replay_command(settings, [parse_id(ids[0])], dry_run=False, force=False)

    status = await replay_command(settings, None, dry_run=False, force=False)

    assert status == 0
    replayed_from = sorted(
        dict(copy.headers)["dlq-replayed-from"].decode()
        for copy in await copies_on_source(settings)
    )
    assert replayed_from == sorted(ids)


async def test_replay_dry_run_sends_nothing(
    make_settings: Callable[..., Any], greenguard: Callable[..., Awaitable[Completed]]
) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)
    [dead_id] = await dead_letter(settings)

    result = await greenguard("dlq", "replay", "--id", dead_id, "--dry-run")

    assert result.returncode == 0, result.stderr
    assert f"{dead_id}: would replay to greenhouse.candidate-events (key 400)" in result.stdout
    assert await copies_on_source(settings) == []
    async with ClusterReader(settings, 10) as reader:
        assert await read_replays(reader, settings) == {}


async def test_replay_unknown_id_fails(greenguard: Callable[..., Awaitable[Completed]]) -> None:
    result = await greenguard("dlq", "replay", "--id", "0:999")

    assert result.returncode == 1
    assert "0:999: not found in greenguard.dead-letter" in result.stdout


async def test_replay_rejects_malformed_id(
    greenguard: Callable[..., Awaitable[Completed]],
) -> None:
    result = await greenguard("dlq", "replay", "--id", "seven")

    assert result.returncode == 2
    assert "invalid ID 'seven'" in result.stderr


async def test_replay_without_ledger_topic_fails(
    make_settings: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    settings: OperatorSettings = make_settings(OperatorSettings)
    await ensure_topics(settings, [DEAD_LETTER, CANDIDATE_EVENTS])
    publisher = Publisher(settings)
    await publisher.start()
    partition, offset = await publisher.publish(
        DEAD_LETTER, "400", PERSONAL_VALUE, dead_letter_headers(settings, 0)
    )
    await publisher.stop()

    status = await replay_command(settings, [(partition, offset)], dry_run=False, force=False)

    assert status == 1
    assert "cannot record replays" in capsys.readouterr().out
    assert await copies_on_source(settings) == []
