"""``greenguard protected-users``: list and edit the users whose interviews are protected.

    greenguard protected-users add EMAIL...      protect these addresses
    greenguard protected-users remove EMAIL...   stop protecting them (a tombstone each)
    greenguard protected-users list              print the addresses, one per line
    greenguard protected-users import FILE       add every address of a file
    greenguard protected-users export            print a CSV file with an ``email`` column

An import file is a CSV file whose header row has an ``email`` column, or one address per line.
Every address is checked before anything is published: when one is invalid, the command names
it (with its line in a file), publishes nothing and exits with status 2. Exit status 69 means
Kafka could not be reached.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Collection, Iterable
from pathlib import Path

from pydantic import Field

from shared.events import utc_now
from shared.kafka import Publisher, ensure_topics
from shared.operator.common import ClusterReader, run_command
from shared.protected_users import ProtectedDomainSettings, encode_user, normalize_email
from shared.settings import KafkaSettings
from shared.topics import PROTECTED_USERS, topic_name

EXIT_INVALID = 2


class ProtectedUsersSettings(KafkaSettings, ProtectedDomainSettings):
    """Settings of the command: the Kafka connection and the accepted domains."""

    operator_timeout_seconds: float = Field(default=30.0, gt=0)


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommands and their arguments."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="protect one or more email addresses")
    add.add_argument("emails", nargs="+", metavar="EMAIL")
    remove = actions.add_parser("remove", help="stop protecting one or more email addresses")
    remove.add_argument("emails", nargs="+", metavar="EMAIL")
    actions.add_parser("list", help="print the protected addresses, one per line")
    load = actions.add_parser(
        "import", help="add the addresses of a CSV file with an email column, or one per line"
    )
    load.add_argument("file", type=Path, metavar="FILE")
    actions.add_parser("export", help="print the protected addresses as CSV with an email column")


def main(args: argparse.Namespace) -> int:
    """Run one action and return the exit status."""
    settings = ProtectedUsersSettings.load()
    return run_command("protected-users", _run(settings, args))


async def _run(settings: ProtectedUsersSettings, args: argparse.Namespace) -> int:
    domains = settings.greenguard_protected_domains
    if args.action in ("add", "remove"):
        rows = [(f"argument {number}", text) for number, text in enumerate(args.emails, 1)]
        emails = _validated(rows, domains if args.action == "add" else ())
    elif args.action == "import":
        try:
            emails = _validated(read_rows(args.file), domains)
        except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
            print(f"cannot read {args.file}: {exc}", file=sys.stderr)
            return EXIT_INVALID
        if emails == []:
            print(f"{args.file} contains no addresses; nothing imported", file=sys.stderr)
            return EXIT_INVALID
    else:
        emails = []
    if emails is None:
        return EXIT_INVALID

    current = await _read_current(settings)
    if args.action == "list":
        for email in sorted(current):
            print(email)
    elif args.action == "export":
        print(export_csv(current), end="")
    elif args.action == "remove":
        await _remove(settings, emails, current)
    else:
        await _add(settings, emails, current)
    return 0


def read_rows(path: Path) -> list[tuple[str, str]]:
    """Return ``(where, address)`` pairs of an import file, blank lines left out.

    A first line whose comma-separated cells include ``email`` (any case) makes it a CSV file
    read by that column; otherwise every line is one address.
    """
    text = path.read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    header = next((line for line in lines if line.strip()), "")
    cells = [cell.strip().lower() for cell in next(csv.reader([header]), [])]
    if "email" not in cells:
        return [(f"line {number}", line) for number, line in enumerate(lines, 1) if line.strip()]
    if cells.count("email") > 1:
        raise ValueError("the header names the email column more than once")
    column = cells.index("email")
    rows = []
    reader = csv.reader(io.StringIO(text))
    for row in reader:
        if not any(cell.strip() for cell in row) or [c.strip().lower() for c in row] == cells:
            continue
        value = row[column] if column < len(row) else ""
        rows.append((f"line {reader.line_num}", value))
    return rows


def export_csv(emails: Iterable[str]) -> str:
    """Render the addresses as CSV with an ``email`` header, sorted."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["email"])
    for email in sorted(emails):
        writer.writerow([email])
    return buffer.getvalue()


def _validated(rows: Iterable[tuple[str, str]], domains: Collection[str]) -> list[str] | None:
    emails: list[str] = []
    failed = False
    for where, text in rows:
        try:
            emails.append(normalize_email(text, domains))
        except ValueError as exc:
            print(f"{where}: {exc}", file=sys.stderr)
            failed = True
    if failed:
        print("nothing was changed: correct the addresses above and run again", file=sys.stderr)
        return None
    return list(dict.fromkeys(emails))


async def _read_current(settings: ProtectedUsersSettings) -> set[str]:
    topic = topic_name(PROTECTED_USERS, settings.kafka_topic_prefix)
    async with ClusterReader(settings, settings.operator_timeout_seconds) as reader:
        return set(await reader.read_compacted(topic))


async def _add(settings: ProtectedUsersSettings, emails: list[str], current: set[str]) -> None:
    new = [email for email in emails if email not in current]
    for email in emails:
        if email in current:
            print(f"{email} is already protected")
    if not new:
        return
    await ensure_topics(settings, [PROTECTED_USERS])
    now = utc_now()
    await _publish(settings, [(email, encode_user(email, now)) for email in new])
    for email in new:
        print(f"added {email}")


async def _remove(settings: ProtectedUsersSettings, emails: list[str], current: set[str]) -> None:
    gone = [email for email in emails if email in current]
    for email in emails:
        if email not in current:
            print(f"{email} was not protected")
    if not gone:
        return
    await _publish(settings, [(email, None) for email in gone])
    for email in gone:
        print(f"removed {email}")


async def _publish(settings: KafkaSettings, records: list[tuple[str, bytes | None]]) -> None:
    publisher = Publisher(settings)
    await publisher.start()
    try:
        for key, value in records:
            await publisher.publish(PROTECTED_USERS, key, value)
    finally:
        await publisher.stop()
