"""Command line: ``python -m mock_api [--profile NAME] [--set KNOB=VALUE] ...``.

Knob precedence, lowest first: the profile, ``MOCK_API_<KNOB>`` environment
variables, the dedicated flags, then ``--set``. The one line printed on
start is the contract with the test harness, which reads the real port from
it when started with ``--port 0``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from mock_api.config import ENV_PREFIX, PROFILES, Config, ConfigError, build, env_knobs
from mock_api.server import serve

_FLAG_KNOBS = {
    "campaigns": int,
    "accounts": int,
    "rate_limit": int,
    "rate_window": float,
    "error_rate": float,
    "hang_rate": float,
    "hang_seconds": float,
    "sync_delay": float,
    "token_ttl": float,
    "seed": int,
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (defaults may come from the environment)."""
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m mock_api",
        description="Mock of the Mixo Ads Ad Platform API, failure modes included.",
    )
    parser.add_argument(
        "--profile",
        default=env.get(ENV_PREFIX + "PROFILE", "vendor"),
        choices=sorted(PROFILES),
    )
    parser.add_argument("--host", default=env.get(ENV_PREFIX + "HOST", "127.0.0.1"))
    parser.add_argument(
        "--port",
        type=int,
        default=int(env.get(ENV_PREFIX + "PORT", "3001")),
        help="0 picks a free port",
    )
    for knob, kind in _FLAG_KNOBS.items():
        parser.add_argument("--" + knob.replace("_", "-"), dest=knob, type=kind)
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KNOB=VALUE",
        help="override any knob (repeatable)",
    )
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> Config:
    """Merge profile, environment, flags and ``--set`` into one config."""
    overrides: dict[str, Any] = dict(env_knobs())
    for knob in _FLAG_KNOBS:
        value = getattr(args, knob)
        if value is not None:
            overrides[knob] = value
    for item in args.sets:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects KNOB=VALUE, got {item!r}")
        overrides[name.strip()] = value
    return build(args.profile, overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGINT or SIGTERM."""
    args = parse_args(argv)
    try:
        cfg = config_from_args(args)
    except ConfigError as exc:
        print(f"mock_api: {exc}", file=sys.stderr)
        return 2

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runner: web.AppRunner = await serve(cfg, args.host, args.port, args.profile)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
