"""Test-only control endpoints under ``/_mock/`` (no auth, no rate limit).

They let a test read what the server saw, clear it between tests, and turn
knobs at runtime without restarting the process (which would cost a second
per test and lose the free port).
"""

from __future__ import annotations

import orjson
from aiohttp import web

from mock_api.config import ConfigError, apply
from mock_api.state import STATE


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(data), content_type="application/json"
    )


async def stats(request: web.Request) -> web.Response:
    """Return the counters."""
    return _json(request.app[STATE].stats.to_json())


async def tokens(request: web.Request) -> web.Response:
    """Return every token issued, so tests can grep logs for leaks."""
    return _json(request.app[STATE].tokens.values())


async def reset(request: web.Request) -> web.Response:
    """Clear stats, rate windows and tokens."""
    request.app[STATE].reset()
    return _json({"reset": True})


async def forget_tokens(request: web.Request) -> web.Response:
    """Forget every token issued so far, as a server restart would."""
    return _json({"forgotten": request.app[STATE].tokens.forget()})


async def get_config(request: web.Request) -> web.Response:
    """Return the knobs in force."""
    return _json(request.app[STATE].cfg.to_json())


async def post_config(request: web.Request) -> web.Response:
    """Change knobs at runtime; unknown knobs or bad values give 400."""
    state = request.app[STATE]
    try:
        changes = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _json({"error": "Bad Request", "message": "body is not JSON"}, 400)
    if not isinstance(changes, dict):
        return _json({"error": "Bad Request", "message": "expected an object"}, 400)
    try:
        new = apply(state.cfg, changes)
    except ConfigError as exc:
        return _json({"error": "Bad Request", "message": str(exc)}, 400)
    state.reconfigure(new)
    return _json(new.to_json())


def add_control_routes(app: web.Application) -> None:
    """Register the ``/_mock/`` routes on ``app``."""
    app.router.add_get("/_mock/stats", stats)
    app.router.add_get("/_mock/tokens", tokens)
    app.router.add_post("/_mock/reset", reset)
    app.router.add_post("/_mock/forget_tokens", forget_tokens)
    app.router.add_get("/_mock/config", get_config)
    app.router.add_post("/_mock/config", post_config)
