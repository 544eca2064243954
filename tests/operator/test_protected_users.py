"""``greenguard protected-users`` against the embedded broker, plus its file parsing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import pytest

from shared.kafka import read_compacted
from shared.operator.protected_users import export_csv, read_rows
from shared.protected_users import normalize_email
from shared.settings import KafkaSettings
from shared.topics import PROTECTED_USERS
from tests.operator.conftest import Completed

Run = Callable[..., Awaitable[Completed]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jane.Doe@Corp.Example", "jane.doe@corp.example"),
        ("  hr+team@corp.example ", "hr+team@corp.example"),
        ("o'neil@sub.corp.example", "o'neil@sub.corp.example"),
    ],
)
def test_normalize_email_accepts(text: str, expected: str) -> None:
    assert normalize_email(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "jane",
        "@corp.example",
        "jane@",
        "jane@corp",
        "jane@@corp.example",
        "jane..doe@corp.example",
        ".jane@corp.example",
        "Jane <jane@corp.example>",
        "jane doe@corp.example",
        "jane@-corp.example",
        "jane@corp..example",
        "jane@corp.example.",
        "j" * 65 + "@corp.example",
    ],
)
def test_normalize_email_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        normalize_email(text)


def test_normalize_email_checks_domains() -> None:
    assert normalize_email("a@corp.example", ["corp.example"]) == "a@corp.example"
    with pytest.raises(ValueError, match="company domain"):
        normalize_email("a@gmail.example", ["corp.example"])
    with pytest.raises(ValueError, match="company domain"):
        normalize_email("a@evil.corp.example", ["corp.example"])


def test_read_rows_csv_with_email_column(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("name,Email\nJane,jane@corp.example\n\nBob,bob@corp.example\n")

    assert read_rows(path) == [("line 2", "jane@corp.example"), ("line 4", "bob@corp.example")]


def test_read_rows_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    path.write_text("jane@corp.example\n\nbob@corp.example\n")

    assert read_rows(path) == [("line 1", "jane@corp.example"), ("line 3", "bob@corp.example")]


def test_export_csv_is_sorted_with_header() -> None:
    assert export_csv({"b@x.example", "a@x.example"}) == "email\na@x.example\nb@x.example\n"


async def protected(settings: KafkaSettings) -> dict[str, bytes]:
    return await read_compacted(settings, PROTECTED_USERS)


@pytest.mark.integration
async def test_add_list_remove(greenguard: Run, kafka_settings: KafkaSettings) -> None:
    added = await greenguard("protected-users", "add", "Jane@Corp.Example", "hr@corp.example")
    again = await greenguard("protected-users", "add", "jane@corp.example")
    listed = await greenguard("protected-users", "list")
    removed = await greenguard("protected-users", "remove", "JANE@corp.example", "x@corp.example")
    after = await protected(kafka_settings)

    assert added.returncode == 0, added.stderr
    assert "added jane@corp.example" in added.stdout
    assert "already protected" in again.stdout
    assert listed.stdout.split() == ["hr@corp.example", "jane@corp.example"]
    assert removed.returncode == 0, removed.stderr
    assert "removed jane@corp.example" in removed.stdout
    assert "x@corp.example was not protected" in removed.stdout
    assert list(after) == ["hr@corp.example"]
    assert orjson.loads(after["hr@corp.example"])["email"] == "hr@corp.example"


@pytest.mark.integration
async def test_invalid_address_publishes_nothing(
    greenguard: Run, kafka_settings: KafkaSettings
) -> None:
    result = await greenguard("protected-users", "add", "ok@corp.example", "not-an-address")

    assert result.returncode == 2
    assert "argument 2" in result.stderr
    assert "nothing was changed" in result.stderr
    assert await protected(kafka_settings) == {}


@pytest.mark.integration
async def test_domain_restriction(
    greenguard: Run, kafka_settings: KafkaSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GREENGUARD_PROTECTED_DOMAINS", "corp.example")

    rejected = await greenguard("protected-users", "add", "someone@gmail.example")
    accepted = await greenguard("protected-users", "add", "someone@corp.example")

    assert rejected.returncode == 2
    assert "company domain" in rejected.stderr
    assert accepted.returncode == 0, accepted.stderr
    assert list(await protected(kafka_settings)) == ["someone@corp.example"]


@pytest.mark.integration
async def test_import_and_export(
    greenguard: Run, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    good.write_text("email,team\nA@corp.example,hr\nb@corp.example,recruiting\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("email\nc@corp.example\nnot valid\n")

    rejected = await greenguard("protected-users", "import", str(bad))
    imported = await greenguard("protected-users", "import", str(good))
    exported = await greenguard("protected-users", "export")

    assert rejected.returncode == 2
    assert "line 3" in rejected.stderr
    assert imported.returncode == 0, imported.stderr
    assert exported.stdout == "email\na@corp.example\nb@corp.example\n"
    assert sorted(await protected(kafka_settings)) == ["a@corp.example", "b@corp.example"]


def test_read_rows_rejects_repeated_email_column(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("email,email\na@corp.example,b@corp.example\n", encoding="utf-8")
    with pytest.raises(ValueError, match="more than once"):
        read_rows(path)


async def test_import_empty_file_rejected(greenguard: Run, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    result = await greenguard("protected-users", "import", str(empty))
    assert result.returncode == 2
    assert "contains no addresses" in result.stderr
