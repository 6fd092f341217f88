"""The vendor's endpoints and the request pipeline in front of them.

Every ``/api/*`` request goes through the same steps, in the vendor's order:
it is recorded in the rate window on arrival, rejected with 429 when over the
limit, checked for a valid bearer token, possibly hit by an injected fault,
and only then handled. The order matters to the tap: a request that fails for
any reason has still used up rate-limit budget.
"""

from __future__ import annotations

import math
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from mock_api import faults
from mock_api.accounts import authenticate
from mock_api.config import Config
from mock_api.control import add_control_routes
from mock_api.pages import list_campaigns
from mock_api.state import STATE, ServerState
from mock_api.sync import sync_campaign
from mock_api.tokens import parse_basic, parse_bearer
from mock_api.wire import iso, json_response

__all__ = ["create_app", "iso"]

ROUTE_LIST = "list"
ROUTE_SYNC = "sync"


def _route_key(request: web.Request) -> str:
    resource = request.match_info.route.resource
    path = resource.canonical if resource is not None else request.path
    return f"{request.method} {path}"


def _rate_limited(cfg: Config, retry_after: int) -> web.Response:
    extra = {"retry_after": retry_after} if cfg.retry_after_body else {}
    resp = faults.json_error(
        429,
        "Rate limit exceeded",
        f"Too many requests: at most {cfg.rate_limit} per {cfg.rate_window:g} s.",
        **extra,
    )
    if cfg.retry_after_header:
        resp.headers["Retry-After"] = str(retry_after)
    return resp


def _check_bearer(request: web.Request, state: ServerState) -> web.Response | None:
    value = parse_bearer(request.headers.get("Authorization"))
    if value is None:
        return faults.json_error(
            401, "Unauthorized", "Missing or malformed Bearer token."
        )
    token = state.tokens.get(value)
    if token is None:
        return faults.json_error(401, "Unauthorized", "Invalid access token.")
    now = time.time()
    cfg = state.cfg
    aged_out = (
        cfg.token_amnesia
        and cfg.token_amnesia_after > 0
        and now - token.issued >= cfg.token_amnesia_after
    )
    if aged_out or state.tokens.forgotten(value):
        return faults.json_error(
            401, "Invalid token", "The access token is not recognised."
        )
    if now >= token.expires:
        return faults.json_error(
            401,
            "Token expired",
            "The access token has expired; request a new one.",
            expired_at=iso(token.expires),
        )
    request["account"] = token.account
    return None


#: The fault counter of ``sync_429_ids``.
SYNC_429 = "sync_429"


def _forced_429(cfg: Config, state: ServerState, client: str) -> bool:
    """Whether ``force_429_after`` rejects this client's call now."""
    if not cfg.force_429_after:
        return False
    if cfg.force_429_client and cfg.force_429_client != client:
        return False
    return state.stats.client(client).accepted >= cfg.force_429_after


async def _api(
    request: web.Request, handler: Handler, state: ServerState
) -> tuple[web.StreamResponse, bool]:
    """Run the /api pipeline; the flag says whether a full answer was sent."""
    cfg, stats = state.cfg, state.stats
    now = time.monotonic()
    client = request.headers.get("X-Client-ID") or "default"
    route = request.match_info.route.name
    stats.record_api_arrival(client, now, cfg.rate_window)
    if route == ROUTE_SYNC:
        stats.record_sync(client, request.match_info["id"])
    if route == ROUTE_SYNC and request.match_info["id"] in cfg.sync_429_ids:
        # A 429 this campaign's sync gets every time, whatever the limiter
        # says: a 429 path a test can count on, however slow the machine.
        stats.faults[SYNC_429] += 1
        stats.record_rate_limited(client)
        return _rate_limited(cfg, cfg.retry_after_seconds or 1), True
    if _forced_429(cfg, state, client):
        stats.faults[faults.FORCED_429] += 1
        stats.record_rate_limited(client)
        wait = cfg.retry_after_seconds or max(1, math.ceil(cfg.rate_window))
        return _rate_limited(cfg, wait), True
    verdict = state.limiter.hit(
        client,
        now,
        limit=cfg.rate_limit,
        window=cfg.rate_window,
        count_rejected=cfg.count_rejected,
        exact_retry_after=cfg.retry_after_mode == "exact",
    )
    if not verdict.allowed:
        stats.record_rate_limited(client)
        wait = cfg.retry_after_seconds or verdict.retry_after
        return _rate_limited(cfg, wait), True
    stats.record_accepted(client, now, cfg.rate_window)
    if cfg.redirect_route == route and _take_redirect(state):
        stats.faults["redirect"] += 1
        return faults.redirect(cfg.redirect_status, cfg.redirect_location), True
    denial = _check_bearer(request, state)
    if denial is not None:
        return denial, True
    stats.client(client).accounts[str(request["account"])] += 1
    fault = faults.pick_transport_fault(cfg, state.rng, route or "")
    if fault is not None and fault not in faults.BODY_FAULTS:
        stats.faults[fault] += 1
        if fault == faults.HANG:
            return await faults.hang(request, cfg.hang_seconds), False
        if fault == faults.HTML_500:
            return faults.html_500(), True
        return faults.json_error(
            503, "Service Unavailable", "The service is temporarily unavailable."
        ), True
    if route == ROUTE_LIST and cfg.slow_headers:
        stats.faults["slow_headers"] += 1
        return await faults.slow_headers(
            request, cfg.slow_steady_bytes_per_second, cfg.slow_steady_seconds
        ), False
    if route == ROUTE_LIST and cfg.body_bomb:
        stats.faults["body_bomb"] += 1
        return await faults.bomb(request, cfg.body_bomb, cfg.body_bomb_bytes), True
    resp = await handler(request)
    steady = cfg.slow_steady_body and route == ROUTE_LIST
    if steady and resp.status == 200 and isinstance(resp, web.Response):
        stats.faults[faults.SLOW_STEADY] += 1
        return await faults.steady(
            request, resp, cfg.slow_steady_bytes_per_second, cfg.slow_steady_seconds
        ), True
    if fault is None or resp.status != 200 or not isinstance(resp, web.Response):
        return resp, True
    stats.faults[fault] += 1
    if fault == faults.RESET:
        return await faults.reset(request, resp), False
    if fault == faults.TRUNCATED_JSON:
        return faults.truncated(resp), True
    return await faults.slow(request, resp, cfg.slow_body_seconds), True


@web.middleware
async def pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every request and route /api calls through limit, auth, faults."""
    state = request.app[STATE]
    if request.path.startswith("/_mock/"):
        return await handler(request)
    state.stats.requests[_route_key(request)] += 1
    try:
        if request.path.startswith("/api/"):
            resp, answered = await _api(request, handler, state)
        else:
            resp, answered = await handler(request), True
    except web.HTTPException as exc:
        state.stats.statuses[str(exc.status)] += 1
        raise
    if answered:
        state.stats.statuses[str(resp.status)] += 1
    return resp


def _take_redirect(state: ServerState) -> bool:
    """Whether this call of ``redirect_route`` is redirected (counts it)."""
    cfg = state.cfg
    state.redirects_served += 1
    return cfg.redirect_times == 0 or state.redirects_served <= cfg.redirect_times


async def token(request: web.Request) -> web.Response:
    """Exchange Basic credentials for a bearer token (not rate limited)."""
    state = request.app[STATE]
    cfg = state.cfg
    if cfg.redirect_route == "token" and _take_redirect(state):
        state.stats.faults["redirect"] += 1
        return faults.redirect(cfg.redirect_status, cfg.redirect_location)
    if cfg.token_error_rate and state.rng.random() < cfg.token_error_rate:
        state.stats.faults[faults.TOKEN_ERROR] += 1
        return faults.json_error(
            503, "Service Unavailable", "The token service is temporarily down."
        )
    creds = parse_basic(request.headers.get("Authorization"))
    if creds is None:
        return faults.json_error(
            401, "Unauthorized", "Missing or malformed Basic authorization header."
        )
    account = authenticate(cfg, *creds)
    if account is None:
        return faults.json_error(401, "Unauthorized", "Invalid email or password.")
    issued = state.tokens.issue(cfg.token_ttl, account)
    state.stats.tokens_issued += 1
    ttl = cfg.token_ttl
    return json_response(
        {
            "access_token": issued.value,
            "token_type": "Bearer",
            "expires_in": int(ttl) if float(ttl).is_integer() else ttl,
            "issued_at": int(issued.issued),
        }
    )


async def health(request: web.Request) -> web.Response:
    """Liveness probe: no auth, no rate limit."""
    state = request.app[STATE]
    return json_response(
        {
            "status": "ok",
            "timestamp": iso(time.time()),
            "uptime": round(time.monotonic() - state.started, 3),
        }
    )


def create_app(cfg: Config) -> web.Application:
    """Build the aiohttp application for one config."""
    app = web.Application(middlewares=[pipeline])
    app[STATE] = ServerState(cfg)
    app.router.add_post("/auth/token", token)
    app.router.add_get("/api/campaigns", list_campaigns, name=ROUTE_LIST)
    app.router.add_post("/api/campaigns/{id}/sync", sync_campaign, name=ROUTE_SYNC)
    app.router.add_get("/health", health)
    add_control_routes(app)
    return app
