"""The vendor's endpoints and the request pipeline in front of them.

Every ``/api/*`` request goes through the same steps, in the vendor's order:
it is recorded in the rate window on arrival, rejected with 429 when over the
limit, checked for a valid bearer token, possibly hit by an injected fault,
and only then handled. The order matters to the tap: a request that fails for
any reason has still used up rate-limit budget.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import datetime, timezone
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from mock_api import campaigns, faults
from mock_api.config import Config
from mock_api.control import add_control_routes
from mock_api.state import STATE, ServerState
from mock_api.tokens import parse_basic, parse_bearer

ROUTE_LIST = "list"
ROUTE_SYNC = "sync"


def iso(ts: float) -> str:
    """Format a unix time as ISO 8601 UTC with milliseconds and ``Z``."""
    stamp = datetime.fromtimestamp(ts, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(data), content_type="application/json"
    )


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
    if time.time() >= token.expires:
        return faults.json_error(
            401,
            "Token expired",
            "The access token has expired; request a new one.",
            expired_at=iso(token.expires),
        )
    return None


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
        stats.sync_calls[request.match_info["id"]] += 1
    verdict = state.limiter.hit(
        client,
        now,
        limit=cfg.rate_limit,
        window=cfg.rate_window,
        count_rejected=cfg.count_rejected,
        exact_retry_after=cfg.retry_after_mode == "exact",
    )
    if not verdict.allowed:
        stats.rate_limited += 1
        return _rate_limited(cfg, verdict.retry_after), True
    denial = _check_bearer(request, state)
    if denial is not None:
        return denial, True
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
    resp = await handler(request)
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


async def token(request: web.Request) -> web.Response:
    """Exchange Basic credentials for a bearer token (not rate limited)."""
    state = request.app[STATE]
    cfg = state.cfg
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
    email_ok = secrets.compare_digest(creds[0].encode(), cfg.email.encode())
    password_ok = secrets.compare_digest(creds[1].encode(), cfg.password.encode())
    if not (email_ok and password_ok):
        return faults.json_error(401, "Unauthorized", "Invalid email or password.")
    issued = state.tokens.issue(cfg.token_ttl)
    state.stats.tokens_issued += 1
    ttl = cfg.token_ttl
    return _json(
        {
            "access_token": issued.value,
            "token_type": "Bearer",
            "expires_in": int(ttl) if float(ttl).is_integer() else ttl,
            "issued_at": int(issued.issued),
        }
    )


def _positive_int(request: web.Request, name: str, default: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 1 else None


async def list_campaigns(request: web.Request) -> web.Response:
    """Serve one page, generated on the fly, with the vendor's quirks."""
    state = request.app[STATE]
    cfg = state.cfg
    page = _positive_int(request, "page", 1)
    limit = _positive_int(request, "limit", 10)
    if page is None or limit is None:
        return faults.json_error(
            400, "Bad Request", "page and limit must be integers >= 1."
        )
    limit = min(limit, cfg.max_limit)
    total = cfg.campaigns
    quirks = cfg.vendor_quirks
    indices = campaigns.page_indices(page, limit, total, quirks=quirks)
    data_rng, fault_rng = state.data_rng, state.rng
    data = [campaigns.campaign(i, data_rng) for i in indices]
    if cfg.missing_field_rate or cfg.wrong_type_rate or cfg.extra_field_rate:
        counts: dict[str, int] = {}
        data = [faults.mangle_record(r, cfg, fault_rng, counts) for r in data]
        state.stats.faults.update(counts)
    reported = faults.drifted_total(total, cfg, fault_rng)
    if reported != total:
        state.stats.faults[faults.TOTAL_DRIFT] += 1
    pagination = {
        "page": page,
        "limit": limit,
        "total": reported,
        "has_more": campaigns.has_more(page, limit, total, quirks=quirks),
    }
    return _json({"data": data, "pagination": pagination})


async def sync_campaign(request: web.Request) -> web.Response:
    """Sync one campaign: slow by design, so clients must overlap calls."""
    state = request.app[STATE]
    cfg = state.cfg
    campaign_id = request.match_info["id"]
    state.stats.sync_started()
    try:
        if campaigns.index_of(campaign_id, cfg.campaigns) is None:
            return faults.json_error(
                404, "Not Found", f"Campaign {campaign_id} not found."
            )
        if campaign_id in cfg.sync_fail_ids:
            return faults.json_error(
                500, "Sync failed", f"Sync of campaign {campaign_id} failed."
            )
        if cfg.sync_delay > 0:
            await asyncio.sleep(cfg.sync_delay)
        state.stats.sync_success[campaign_id] += 1
        return _json(
            {
                "success": True,
                "campaign_id": campaign_id,
                "synced_at": iso(time.time()),
                "message": "Campaign data synced successfully",
            }
        )
    finally:
        state.stats.sync_ended()


async def health(request: web.Request) -> web.Response:
    """Liveness probe: no auth, no rate limit."""
    state = request.app[STATE]
    return _json(
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
