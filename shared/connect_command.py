"""``greenguard connect``: check the Harvest V3 credentials an administrator has just created.

Exit status 0 when connected (warnings included), 1 when no token can be obtained or the check
cannot complete, 2 when scopes are missing. Log lines go to stderr so that ``--json`` output
stays one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import orjson

from shared.connect import ConnectionReport, check_connection, failed
from shared.errors import ConfigurationError
from shared.greenhouse import HarvestClient
from shared.logging import configure_logging
from shared.settings import GreenhouseSettings

# An administrator waits at the terminal: give up on an unreachable Greenhouse sooner than a
# service would.
CONNECT_MAX_ATTEMPTS = 3
CONNECT_TIMEOUT_SECONDS = 8.0


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the command's options."""
    parser.add_argument(
        "--json", action="store_true", help="print the result as one JSON object on stdout"
    )


async def run_check(settings: GreenhouseSettings) -> ConnectionReport:
    """Run the connection check with a client built for this one command."""
    if "greenhouse_timeout_seconds" not in settings.model_fields_set:
        # An administrator waits at the terminal: a silent endpoint fails within about 30 s
        # in all instead of the services' 30 s per attempt.
        settings = settings.model_copy(
            update={"greenhouse_timeout_seconds": CONNECT_TIMEOUT_SECONDS}
        )
    max_attempts = min(settings.greenhouse_max_attempts, CONNECT_MAX_ATTEMPTS)
    async with HarvestClient(settings, max_attempts=max_attempts) as client:
        return await check_connection(client)


def main(args: argparse.Namespace) -> int:
    """Run the check, print the result and return the exit status."""
    settings = GreenhouseSettings.load()
    configure_logging(level="WARNING", fmt="console" if not args.json else "json")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)

    try:
        settings.require_credentials()
    except ConfigurationError as exc:
        report = failed(str(exc))
    else:
        report = asyncio.run(run_check(settings))

    if args.json:
        sys.stdout.write(orjson.dumps(report.to_dict()).decode() + "\n")
    else:
        for line in report.lines():
            print(line)
    return report.exit_code
