"""``greenguard poller``: poll Harvest V3 for what webhooks do not report, one replica at a time."""

from __future__ import annotations

import argparse

from services.poller.settings import PollerSettings
from services.poller.worker import PollerWorker
from shared.health import Health
from shared.runtime import run_worker


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the command's options: none, every setting comes from the environment."""


def main(args: argparse.Namespace) -> int:
    """Run the poller until SIGTERM or SIGINT and return the exit status."""
    settings = PollerSettings.load()
    settings.require_credentials()

    async def build(health: Health) -> PollerWorker:
        return PollerWorker(settings, health)

    return run_worker("poller", settings, build)
