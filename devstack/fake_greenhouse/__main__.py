"""Run the fake Greenhouse: ``python -m devstack.fake_greenhouse --port 8790 --seed demo``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

import uvicorn

from devstack.fake_greenhouse.admin import resolve_scopes
from devstack.fake_greenhouse.seed import LARGE_CANDIDATES, SEEDS, apply_seed
from devstack.fake_greenhouse.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, build_app
from devstack.fake_greenhouse.state import FakeState
from shared.health import QuietServer
from shared.logging import configure_logging, get_logger

log = get_logger("devstack.fake_greenhouse")


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m devstack.fake_greenhouse",
        description="Serve a fake Greenhouse (OAuth, Harvest V3, admin API) for development.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8790, help="TCP port to listen on")
    parser.add_argument("--seed", choices=SEEDS, default="demo", help="initial records")
    parser.add_argument(
        "--seed-candidates",
        type=int,
        default=LARGE_CANDIDATES,
        help="number of candidates of the 'large' seed",
    )
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID, help="OAuth client id")
    parser.add_argument(
        "--client-secret", default=DEFAULT_CLIENT_SECRET, help="OAuth client secret"
    )
    parser.add_argument(
        "--scopes",
        default="all",
        help="granted scopes: 'all' or a comma-separated list such as "
        "harvest:candidates:list,harvest:notes:create",
    )
    parser.add_argument(
        "--token-ttl", type=float, default=3600.0, help="access token lifetime in seconds"
    )
    parser.add_argument(
        "--rate-limit", type=int, default=75, help="requests per credential per rate window"
    )
    parser.add_argument(
        "--rate-window", type=float, default=30.0, help="rate-limit window length in seconds"
    )
    parser.add_argument(
        "--revoke-on-new-token",
        action="store_true",
        help="a new token revokes the client's previous ones",
    )
    parser.add_argument(
        "--webhook-base-delay",
        type=float,
        default=1.0,
        help="seconds standing for one minute of Greenhouse's webhook retry schedule",
    )
    return parser


def build_state(args: argparse.Namespace) -> FakeState:
    """Create the state the options describe."""
    state = FakeState()
    state.add_client(args.client_id, args.client_secret, resolve_scopes(args.scopes))
    state.config.update(
        {
            "token_ttl_seconds": args.token_ttl,
            "rate_limit": args.rate_limit,
            "rate_window_seconds": args.rate_window,
            "revoke_on_new_token": args.revoke_on_new_token,
            "webhook_base_delay_seconds": args.webhook_base_delay,
        }
    )
    apply_seed(state, args.seed, candidates=args.seed_candidates)
    return state


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted."""
    args = build_parser().parse_args(argv)
    configure_logging(level="INFO", fmt="console", service="fake-greenhouse")
    state = build_state(args)
    base = f"http://{args.host}:{args.port}"
    log.info(
        "fake_greenhouse_starting",
        url=base,
        api_url=f"{base}/v3",
        admin_url=f"{base}/admin",
        client_id=args.client_id,
        seed=args.seed,
    )
    config = uvicorn.Config(
        build_app(state), host=args.host, port=args.port, log_config=None, ws="none"
    )
    asyncio.run(_serve(QuietServer(config)))
    return 0


async def _serve(server: QuietServer) -> None:
    # SIGTERM and SIGINT stop the server and the process exits 0, as a stopped service should.
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, setattr, server, "should_exit", True)
    await server.serve()


if __name__ == "__main__":
    sys.exit(main())
