"""How the vendor writes times and JSON bodies, shared by every handler."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import orjson
from aiohttp import web


def iso(ts: float) -> str:
    """Format a unix time as ISO 8601 UTC with milliseconds and ``Z``."""
    stamp = datetime.fromtimestamp(ts, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer, serialized the vendor's way (compact UTF-8)."""
    return web.Response(
        status=status, body=orjson.dumps(data), content_type="application/json"
    )
