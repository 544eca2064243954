"""The ``greenguard`` command: one subcommand per process and per operator tool.

Each subcommand lives in its own module, imported only when it runs, which exposes
``configure(parser)`` to declare its arguments and ``main(args) -> int`` to run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from shared.errors import ConfigurationError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("services.ingest.main", "serve the Greenhouse webhook endpoint"),
    "poller": ("services.poller.main", "poll Harvest V3 for what webhooks do not report"),
    "enricher": ("services.enricher.main", "protect interviews and keep candidate data current"),
    "notifier": ("services.notifier.main", "write verification alerts as Greenhouse notes"),
    "connect": ("shared.connect_command", "check the Harvest V3 credentials and scopes"),
    "protected-users": ("shared.operator.protected_users", "manage the protected users"),
    "alerts": ("shared.operator.alerts", "publish a verification alert"),
    "tail": ("shared.operator.tail", "print the live event stream"),
    "lag": ("shared.operator.lag", "print consumer lag per group and partition"),
    "dlq": ("shared.operator.dlq", "list or replay dead-lettered records"),
    "status": ("shared.operator.status", "print the integration status on one screen"),
}


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with every subcommand whose module is present."""
    parser = argparse.ArgumentParser(
        prog="greenguard",
        description="Greenhouse to identity-verification integration. "
        "Settings come from environment variables; see the README.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, summary) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # not built yet in this checkout
            raise
        sub = commands.add_parser(name, help=summary, description=summary)
        module.configure(sub)
        sub.set_defaults(handler=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
    except ConfigurationError as exc:
        print(f"greenguard {args.command}: {exc}", file=sys.stderr)
        return 78  # EX_CONFIG from sysexits.h
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``greenguard tail | head``): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return status


if __name__ == "__main__":
    sys.exit(main())
