"""Campaign records, generated on demand from their index.

The bench serves a million campaigns, so nothing here builds the whole list:
a page is computed from its indices. Everything but the metrics is a pure
function of the index, so a record is the same on every call (the tap can
deduplicate by id) while the metrics change, as the vendor documents.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

STATUSES = ("active", "paused", "completed")
# 2024-01-01T00:00:00Z: created_at values spread over the year after it.
_EPOCH = 1704067200
_YEAR = 365 * 86400
_PREFIX = "campaign_"


def created_at(index: int) -> str:
    """Deterministic ISO creation time with milliseconds for campaign ``index``."""
    seconds = _EPOCH + (index * 7919) % _YEAR
    millis = (index * 37) % 1000
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{millis:03d}Z"


def campaign(index: int, rng: random.Random, account: int = 1) -> dict[str, Any]:
    """Build campaign ``index`` (1-based) of ``account`` with fresh metrics.

    Every account has the same ids; accounts other than the demo one (1)
    have their own names and budgets, so a test can tell whose rows it got.
    """
    rand = rng.random
    impressions = int(rand() * 100_000)
    clicks = int(rand() * (impressions + 1) * 0.1)
    conversions = int(rand() * (clicks + 1) * 0.2)
    return {
        "id": f"{_PREFIX}{index}",
        "name": f"Campaign {index}" + (f" (acct {account})" if account > 1 else ""),
        "status": STATUSES[(index - 1) % 3],
        "budget": 1000 + 100 * index + (account if account > 1 else 0),
        "impressions": impressions,
        "clicks": min(clicks, impressions),
        "conversions": min(conversions, clicks),
        "created_at": created_at(index),
    }


def index_of(campaign_id: str, total: int) -> int | None:
    """Return the index of an existing campaign id, else None."""
    if not campaign_id.startswith(_PREFIX):
        return None
    digits = campaign_id[len(_PREFIX) :]
    if not digits.isdigit() or digits.startswith("0"):
        return None
    index = int(digits)
    return index if 1 <= index <= total else None


def page_indices(
    page: int, limit: int, total: int, *, quirks: bool, pad: bool = False
) -> range:
    """Indices served on ``page``.

    With the vendor's quirk a page that starts past the end serves a full
    page of "phantom" campaigns (ids beyond ``total`` that do not exist)
    instead of an empty list, so a client that stops only on an empty page
    never stops; the last real page is still cut at ``total`` unless ``pad``
    fills it up with phantoms too (a client must stop at ``total``, not at
    a short page).
    """
    start = (page - 1) * limit + 1
    if (quirks and start > total) or (pad and start <= total):
        return range(start, start + limit)
    return range(start, max(start, min(start + limit, total + 1)))


def has_more(page: int, limit: int, total: int, *, quirks: bool) -> bool:
    """Whether the vendor says more pages follow.

    The real server computes this as if the page size were always the
    documented 10, so it is wrong for other page sizes; quirks off gives the
    honest answer.
    """
    size = 10 if quirks else limit
    return page < math.ceil(total / size)
