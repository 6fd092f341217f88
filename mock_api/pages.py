"""``GET /api/campaigns``: one page, generated on the fly, faults included.

Page-level faults (``page_fault``, ``pad_last_page``, ``repeat_campaign``,
``bad_values``, ``first_page_body``) change what a page holds, not how it
travels; the transport faults in :mod:`mock_api.faults` then apply on top,
as for any answer.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from mock_api import badvalues, campaigns, faults
from mock_api.config import Config
from mock_api.state import STATE, ServerState

PAGE_FAULT = "page_fault"
FIRST_PAGE_BODY = "first_page_body"


def repeats(cfg: Config) -> dict[int, str]:
    """``repeat_campaign`` as page number -> campaign id (last item wins)."""
    out = {}
    for item in cfg.repeat_campaign:
        cid, _, page = item.rpartition("@")
        out[int(page)] = cid
    return out


def _for_account(items: tuple[str, ...], account: int) -> set[str]:
    prefix = f"{account}:"
    return {item[len(prefix) :] for item in items if item.startswith(prefix)}


def edited_ids(cfg: Config, account: int) -> set[str]:
    """The ids of ``account``'s campaigns whose settings were edited."""
    return _for_account(cfg.edited_campaigns, account)


def deleted_indices(cfg: Config, account: int) -> list[int]:
    """The sorted indices of ``account``'s deleted campaigns."""
    ids = _for_account(cfg.deleted_campaigns, account)
    found = (campaigns.index_of(cid, cfg.campaigns) for cid in ids)
    return sorted(i for i in found if i is not None)


def _index_at(position: int, total: int, deleted: list[int]) -> int:
    """The campaign index at listing ``position`` once ``deleted`` are gone.

    Positions past the end (the vendor's phantom pages) map past ``total``.
    """
    live = total - len(deleted)
    if position > live:
        return total + position - live
    index = position
    for gone in deleted:  # few: a test deletes a handful
        if gone <= index:
            index += 1
    return index


def _positive_int(request: web.Request, name: str, default: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 1 else None


def _page_fault(state: ServerState, page: int) -> str | None:
    """The page fault this request gets, counting it toward healing."""
    cfg = state.cfg
    kind = cfg.page_fault
    if kind == "none":
        return None
    if kind == "empty_after":
        hit = page > cfg.page_fault_page
    elif kind == "ignore_page":
        hit = page != 1
    elif kind == "duplicate_page":
        hit = page == cfg.page_fault_page and page > 1
    else:
        hit = page == cfg.page_fault_page
    if not hit:
        return None
    if cfg.page_fault_times and state.page_fault_hits >= cfg.page_fault_times:
        return None
    state.page_fault_hits += 1
    state.stats.faults[PAGE_FAULT] += 1
    return kind


def _rows(
    state: ServerState, page: int, limit: int, account: int
) -> tuple[list[dict[str, Any]], bool]:
    """The rows of ``page`` and whether any carries a surrogate mark."""
    cfg = state.cfg
    deleted = deleted_indices(cfg, account)
    positions = campaigns.page_indices(
        page,
        limit,
        cfg.campaigns - len(deleted),
        quirks=cfg.vendor_quirks,
        pad=cfg.pad_last_page,
    )
    indices = (
        [_index_at(p, cfg.campaigns, deleted) for p in positions]
        if deleted
        else list(positions)
    )
    repeated = repeats(cfg).get(page) if cfg.repeat_campaign else None
    if repeated is not None and indices:
        index = campaigns.index_of(repeated, max(cfg.campaigns, 10**15))
        if index is not None:
            indices[-1] = index
    rows = [campaigns.campaign(i, state.data_rng, account) for i in indices]
    if cfg.edited_campaigns:
        edited = edited_ids(cfg, account)
        for row in rows:
            if row["id"] in edited:
                row["budget"] += 1
                row["name"] += " (edited)"
    marked = False
    if cfg.bad_values:
        for index, row in zip(indices, rows, strict=True):
            marked |= badvalues.plant(row, index, cfg.bad_values)
    if cfg.missing_field_rate or cfg.wrong_type_rate or cfg.extra_field_rate:
        counts: dict[str, int] = {}
        rows = [faults.mangle_record(r, cfg, state.rng, counts) for r in rows]
        state.stats.faults.update(counts)
    return rows, marked


async def list_campaigns(request: web.Request) -> web.Response:
    """Serve one page of the caller's account, with the configured faults."""
    state = request.app[STATE]
    cfg = state.cfg
    page = _positive_int(request, "page", 1)
    limit = _positive_int(request, "limit", 10)
    if page is None or limit is None:
        return faults.json_error(
            400, "Bad Request", "page and limit must be integers >= 1."
        )
    limit = min(limit, cfg.max_limit)
    if cfg.first_page_body and page == 1:
        state.stats.faults[FIRST_PAGE_BODY] += 1
        return web.Response(
            status=200, text=cfg.first_page_body, content_type="application/json"
        )
    fault = _page_fault(state, page)
    served = page
    if fault == "ignore_page":
        served = 1
    elif fault == "duplicate_page":
        served = page - 1
    rows, marked = _rows(state, served, limit, request.get("account", 1))
    data: Any = rows
    if fault == "empty_after":
        data = []
    elif fault == "non_list":
        data = None
    elif fault == "non_list_object":
        data = {str(row.get("id")): row for row in rows}
    total = cfg.campaigns - len(deleted_indices(cfg, request.get("account", 1)))
    reported = faults.drifted_total(total, cfg, state.rng)
    if reported != total:
        state.stats.faults[faults.TOTAL_DRIFT] += 1
    pagination = {
        "page": served if fault == "ignore_page" else page,
        "limit": limit,
        "total": reported,
        "has_more": campaigns.has_more(page, limit, total, quirks=cfg.vendor_quirks),
    }
    body = orjson.dumps({"data": data, "pagination": pagination})
    if marked:
        body = badvalues.unmark(body)
    return web.Response(body=body, content_type="application/json")
