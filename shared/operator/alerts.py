"""``greenguard alerts send``: publish one verification alert, for operators and ``make run``.

The alert is validated exactly as the notifier validates it (``shared.alerts.validate_alert``)
and published to ``greenguard.verification-alerts`` with the candidate id as key. The command
prints the alert id on stdout. Exit status: 0 published, 2 invalid input, 69 Kafka unreachable.

Unlike the read-only operator commands, this one creates the alerts topic when it is missing
(unless ``KAFKA_CREATE_TOPICS`` is false), because a first alert may precede the notifier.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any

from shared.alerts import KINDS, SCHEMA_VERSION, SEVERITIES, Alert, validate_alert
from shared.errors import InvalidEventError
from shared.events import isoformat, utc_now
from shared.kafka import Publisher, ensure_topics
from shared.operator.common import run_command
from shared.settings import KafkaSettings
from shared.topics import VERIFICATION_ALERTS

EXIT_INVALID = 2

# The severity an alert gets when --severity is not given.
DEFAULT_SEVERITY: dict[str, str] = {
    "protection_enabled": "info",
    "verified": "info",
    "failed": "warning",
    "mismatch": "critical",
    "unable_to_complete": "warning",
    "unverified_joiner": "warning",
    "link_forwarded": "warning",
    "deepfake_suspected": "critical",
    "unsupported_meeting_provider": "warning",
}


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the ``send`` subcommand and its options."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    send = actions.add_parser("send", help="publish one verification alert")
    send.add_argument("--candidate-id", type=int, required=True, help="Greenhouse candidate id")
    send.add_argument(
        "--kind",
        required=True,
        choices=KINDS,
        metavar="KIND",
        help=f"what was found: {', '.join(KINDS)}",
    )
    send.add_argument("--summary", required=True, help="one sentence for the recruiter")
    send.add_argument(
        "--severity",
        choices=SEVERITIES,
        help="info, warning or critical (default: depends on the kind)",
    )
    send.add_argument("--application-id", type=int, help="Greenhouse application id")
    send.add_argument("--interview-id", type=int, help="Greenhouse scheduled interview id")
    send.add_argument("--details", help="more text for the note")
    send.add_argument("--evidence-url", help="http(s) link to the evidence")
    send.add_argument("--id", dest="alert_id", help="alert id (default: a new UUID)")
    send.add_argument("--occurred-at", help="ISO-8601 time of the finding (default: now, in UTC)")


def build_document(args: argparse.Namespace) -> dict[str, Any]:
    """Build the alert document from the command-line options; unset options are left out."""
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "id": args.alert_id or str(uuid.uuid4()),
        "candidate_id": args.candidate_id,
        "kind": args.kind,
        "severity": args.severity or DEFAULT_SEVERITY.get(args.kind, "info"),
        "summary": args.summary,
        "occurred_at": args.occurred_at or isoformat(utc_now()),
    }
    optional = {
        "application_id": args.application_id,
        "interview_id": args.interview_id,
        "details": args.details,
        "evidence_url": args.evidence_url,
    }
    document.update({key: value for key, value in optional.items() if value is not None})
    return document


async def publish_alert(settings: KafkaSettings, alert: Alert) -> int:
    """Publish the alert keyed by its candidate id and print its id."""
    await ensure_topics(settings, [VERIFICATION_ALERTS])
    publisher = Publisher(settings)
    await publisher.start()
    try:
        await publisher.publish(VERIFICATION_ALERTS, alert.key, alert.to_json())
    finally:
        await publisher.stop()
    print(alert.id)
    return 0


def main(args: argparse.Namespace) -> int:
    """Validate the alert, publish it and return the exit status."""
    try:
        alert = validate_alert(build_document(args))
    except InvalidEventError as exc:
        print(f"greenguard alerts send: {exc}", file=sys.stderr)
        return EXIT_INVALID
    settings = KafkaSettings.load()
    return run_command("alerts send", publish_alert(settings, alert))
