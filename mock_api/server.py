"""Start the aiohttp server and announce where it listens."""

from __future__ import annotations

import logging

from aiohttp import web

from mock_api.app import create_app
from mock_api.config import Config

#: Hanging and slow connections must not hold up a test run's shutdown.
SHUTDOWN_TIMEOUT = 1.0
#: Node's default limit on a request head (the vendor's server answers like
#: Express); aiohttp's own 8190 would reject the 10 KiB ids of
#: ``bad_values=longid`` before the vendor's 404 could answer their sync.
MAX_LINE_SIZE = 16 * 1024


async def start_runner(cfg: Config, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start listening; return the runner and the port it really got.

    The access log is off: it would be the one place an ``Authorization``
    header or a token could leak from the mock. Handlers are cancelled when
    their client goes away, so a hung or in-flight sync ends (and is counted
    as ended) as soon as the client times out.
    """
    runner = web.AppRunner(
        create_app(cfg),
        access_log=None,
        handler_cancellation=True,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        max_line_size=MAX_LINE_SIZE,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    actual = port
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            actual = int(address[1])
            break
    return runner, actual


async def serve(cfg: Config, host: str, port: int, profile: str) -> web.AppRunner:
    """Start listening (see :func:`start_runner`) and print the announcement."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    runner, actual = await start_runner(cfg, host, port)
    print(
        f"mock_api listening on http://{host}:{actual} (profile {profile})",
        flush=True,
    )
    return runner
