"""``greenguard notifier``: write verification alerts as notes on Greenhouse candidates."""

from __future__ import annotations

import argparse

from services.notifier.settings import NotifierSettings
from services.notifier.worker import NotifierWorker
from shared.health import Health
from shared.runtime import run_worker


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the command's options; the notifier takes its settings from the environment."""
    del parser


def main(args: argparse.Namespace) -> int:
    """Run the notifier until SIGTERM or SIGINT and return the exit status."""
    settings = NotifierSettings.load()
    settings.require_credentials()

    async def build(health: Health) -> NotifierWorker:
        return NotifierWorker(settings, health)

    return run_worker("notifier", settings, build)
