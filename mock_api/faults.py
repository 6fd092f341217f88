"""Failure injection: which fault (if any) a request gets, and how it looks.

Transport faults are drawn with one uniform number against consecutive
bands, so each kind happens at exactly its configured rate (20 % errors and
10 % hangs, as documented) instead of the rates shadowing each other. Faults
that mangle a body (reset, truncation, slowness) are decided before the
handler runs and applied to the body it produced, so the client sees a real
response go wrong.
"""

from __future__ import annotations

import asyncio
import gzip
import random
from typing import Any

import orjson
from aiohttp import web

from mock_api.config import Config

HANG = "hang"
SLOW_STEADY = "slow_steady"
FORCED_429 = "forced_429"
ERROR_503 = "error_503"
HTML_500 = "html_500"
RESET = "reset"
TRUNCATED_JSON = "truncated_json"
SLOW_BODY = "slow_body"
TOKEN_ERROR = "token_error"
MISSING_FIELD = "missing_field"
WRONG_TYPE = "wrong_type"
EXTRA_FIELD = "extra_field"
TOTAL_DRIFT = "total_drift"

#: Faults applied to the body a handler produced rather than replacing it.
BODY_FAULTS = frozenset({RESET, TRUNCATED_JSON, SLOW_BODY})
_SLOW_CHUNKS = 10
_OPTIONAL_FIELDS = (
    "name",
    "status",
    "budget",
    "impressions",
    "clicks",
    "conversions",
    "created_at",
)


def pick_transport_fault(cfg: Config, rng: random.Random, route: str) -> str | None:
    """Choose the transport fault for one /api request, or None."""
    error_rate = 0.0
    if route == "list":
        error_rate = cfg.error_rate
    elif route == "sync":
        error_rate = cfg.sync_error_rate
    bands = (
        (HANG, cfg.hang_rate),
        (ERROR_503, error_rate),
        (HTML_500, cfg.html_500_rate),
        (RESET, cfg.reset_rate),
        (TRUNCATED_JSON, cfg.truncated_json_rate),
        (SLOW_BODY, cfg.slow_body_rate),
    )
    if not any(rate for _, rate in bands):
        return None
    draw = rng.random()
    edge = 0.0
    for kind, rate in bands:
        edge += rate
        if rate and draw < edge:
            return kind
    return None


def json_error(status: int, error: str, message: str, **extra: Any) -> web.Response:
    """Build the vendor's JSON error body ``{"error", "message", ...}``."""
    body = orjson.dumps({"error": error, "message": message, **extra})
    return web.Response(status=status, body=body, content_type="application/json")


def html_500() -> web.Response:
    """An HTML error page, as a proxy in front of the vendor would send."""
    text = (
        "<!DOCTYPE html><html><head><title>500 Internal Server Error</title>"
        "</head><body><h1>Internal Server Error</h1></body></html>"
    )
    return web.Response(status=500, text=text, content_type="text/html")


async def hang(request: web.Request, seconds: float) -> web.StreamResponse:
    """Hold the connection silently, then close it without any response."""
    await asyncio.sleep(seconds)
    if request.transport is not None:
        request.transport.close()
    # The transport is closed: aiohttp fails to send this and drops it quietly.
    return web.Response(status=504)


async def reset(request: web.Request, resp: web.Response) -> web.StreamResponse:
    """Send the status, headers and half the body, then reset the connection."""
    body = bytes(resp.body) if isinstance(resp.body, bytes | bytearray) else b"{}"
    stream = web.StreamResponse(status=resp.status)
    stream.content_type = resp.content_type
    stream.content_length = len(body)
    await stream.prepare(request)
    await stream.write(body[: max(1, len(body) // 2)])
    await asyncio.sleep(0.05)  # let the partial body reach the client first
    if request.transport is not None:
        request.transport.abort()
    return stream


def truncated(resp: web.Response) -> web.Response:
    """Cut a JSON body in the middle while keeping valid HTTP framing."""
    body = bytes(resp.body) if isinstance(resp.body, bytes | bytearray) else b"{}"
    return web.Response(
        status=resp.status,
        body=body[: max(1, len(body) // 2)],
        content_type=resp.content_type,
    )


async def slow(
    request: web.Request, resp: web.Response, seconds: float
) -> web.StreamResponse:
    """Send a complete body in small chunks spread over ``seconds``."""
    body = bytes(resp.body) if isinstance(resp.body, bytes | bytearray) else b""
    stream = web.StreamResponse(status=resp.status)
    stream.content_type = resp.content_type
    stream.content_length = len(body)
    await stream.prepare(request)
    step = max(1, -(-len(body) // _SLOW_CHUNKS))
    for offset in range(0, len(body), step):
        await stream.write(body[offset : offset + step])
        await asyncio.sleep(seconds / _SLOW_CHUNKS)
    await stream.write_eof()
    return stream


async def steady(
    request: web.Request,
    resp: web.Response,
    bytes_per_second: float,
    max_seconds: float,
) -> web.StreamResponse:
    """Trickle a body at a steady few bytes per second, then give up.

    Every read gets a byte or two well within any read timeout, so only a
    client with a deadline for the whole answer gets out; after
    ``max_seconds`` the server drops the connection so it never holds a
    test run's shutdown for long.
    """
    body = bytes(resp.body) if isinstance(resp.body, bytes | bytearray) else b""
    stream = web.StreamResponse(status=resp.status)
    stream.content_type = resp.content_type
    stream.content_length = len(body)
    await stream.prepare(request)
    chunk = max(1, int(bytes_per_second / 2))
    pause = chunk / bytes_per_second
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds
    for offset in range(0, len(body), chunk):
        if loop.time() >= deadline:
            if request.transport is not None:
                request.transport.close()
            return stream
        await stream.write(body[offset : offset + chunk])
        await asyncio.sleep(pause)
    await stream.write_eof()
    return stream


def mangle_record(
    record: dict[str, Any], cfg: Config, rng: random.Random, faults: dict[str, int]
) -> dict[str, Any]:
    """Apply the data faults (missing, wrong type, extra field) to one record."""
    if cfg.missing_field_rate and rng.random() < cfg.missing_field_rate:
        record.pop(rng.choice(_OPTIONAL_FIELDS), None)
        faults[MISSING_FIELD] = faults.get(MISSING_FIELD, 0) + 1
    if cfg.wrong_type_rate and rng.random() < cfg.wrong_type_rate:
        field = rng.choice(("budget", "impressions", "clicks", "conversions"))
        if field in record:
            record[field] = str(record[field])
            faults[WRONG_TYPE] = faults.get(WRONG_TYPE, 0) + 1
    if cfg.extra_field_rate and rng.random() < cfg.extra_field_rate:
        record["promo_code"] = rng.choice(("X", "SPRING24", "VIP"))
        faults[EXTRA_FIELD] = faults.get(EXTRA_FIELD, 0) + 1
    return record


def drifted_total(total: int, cfg: Config, rng: random.Random) -> int:
    """The ``total`` the vendor reports: off by up to ``total_drift``."""
    if not cfg.total_drift:
        return total
    return max(0, total + rng.randint(-cfg.total_drift, cfg.total_drift))


def redirect(status: int, location: str) -> web.Response:
    """A redirect answer, with ``Location`` unless it is empty."""
    resp = web.Response(status=status, text="", content_type="text/plain")
    if location:
        resp.headers["Location"] = location
    return resp


async def slow_headers(
    request: web.Request, bytes_per_second: float, max_seconds: float
) -> web.StreamResponse:
    """Write the status line and headers a byte at a time, then drop the line.

    Bypasses aiohttp's response writer (which sends headers in one go) by
    writing to the transport itself.
    """
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"X-Padding: " + b"a" * 4096 + b"\r\n\r\n"
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds
    transport = request.transport
    for offset in range(len(head)):
        if transport is None or transport.is_closing() or loop.time() >= deadline:
            break
        transport.write(head[offset : offset + 1])
        await asyncio.sleep(1 / bytes_per_second)
    if transport is not None:
        transport.close()
    return web.Response(status=504)  # never sent: the transport is closed


_GZIP_MEMBER_BYTES = 1024 * 1024


async def bomb(request: web.Request, kind: str, size: int) -> web.StreamResponse:
    """Stream a body of ``size`` bytes once decoded (gzip members or spaces)."""
    stream = web.StreamResponse(status=200)
    stream.content_type = "application/json"
    if kind == "gzip":
        member = gzip.compress(b"\0" * _GZIP_MEMBER_BYTES)
        count = max(1, size // _GZIP_MEMBER_BYTES)
        stream.headers["Content-Encoding"] = "gzip"
        stream.content_length = len(member) * count
        await stream.prepare(request)
        for _ in range(count):
            if request.transport is None or request.transport.is_closing():
                return stream
            await stream.write(member)
    else:
        chunk = b" " * _GZIP_MEMBER_BYTES
        stream.content_length = size
        await stream.prepare(request)
        for offset in range(0, size, len(chunk)):
            if request.transport is None or request.transport.is_closing():
                return stream
            await stream.write(chunk[: size - offset])
    await stream.write_eof()
    return stream
