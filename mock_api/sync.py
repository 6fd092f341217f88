"""``POST /api/campaigns/{id}/sync``: slow by design, with its own faults.

Two different 404s exist on purpose: the vendor's JSON one for a campaign it
does not know, and a text page from something in front of the vendor that
does not know the route at all. A client must not treat the second as
"campaign deleted".
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from mock_api import badvalues, campaigns, faults
from mock_api.state import STATE
from mock_api.wire import iso, json_response


def route_missing(request: web.Request) -> web.Response:
    """The 404 of a router or proxy that has no such route (not JSON)."""
    text = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Error</title>\n</head>\n<body>\n<pre>Cannot POST {request.path}"
        "</pre>\n</body>\n</html>\n"
    )
    return web.Response(status=404, text=text, content_type="text/html")


def _fault(request: web.Request, campaign_id: str) -> web.Response | None:
    """The configured failure of this sync, or None for a normal answer."""
    cfg = request.app[STATE].cfg
    if cfg.sync_route_missing:
        return route_missing(request)
    if cfg.sync_down:
        return faults.json_error(
            503, "Service Unavailable", "The sync service is temporarily down."
        )
    if (
        campaigns.index_of(campaign_id, cfg.campaigns) is None
        or campaign_id in cfg.sync_unknown_ids
        or f"{request.get('account', 1)}:{campaign_id}" in cfg.deleted_campaigns
    ):
        return faults.json_error(404, "Not Found", f"Campaign {campaign_id} not found.")
    if campaign_id in cfg.sync_fail_ids:
        return faults.json_error(
            500, "Sync failed", f"Sync of campaign {campaign_id} failed."
        )
    if (
        "nul_sync_error" in cfg.bad_values
        and campaign_id == badvalues.NUL_SYNC_ERROR_ID
    ):
        return faults.json_error(
            500, "Sync failed", f"Upstream said \x00 while syncing {campaign_id}."
        )
    return None


async def sync_campaign(request: web.Request) -> web.Response:
    """Sync one campaign: slow by design, so clients must overlap calls."""
    state = request.app[STATE]
    campaign_id = request.match_info["id"]
    state.stats.sync_started()
    try:
        failure = _fault(request, campaign_id)
        if failure is not None:
            return failure
        if state.cfg.sync_delay > 0:
            await asyncio.sleep(state.cfg.sync_delay)
        state.stats.sync_success[campaign_id] += 1
        return json_response(
            {
                "success": True,
                "campaign_id": campaign_id,
                "synced_at": iso(time.time()),
                "message": "Campaign data synced successfully",
            }
        )
    finally:
        state.stats.sync_ended()
