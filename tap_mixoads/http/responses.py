"""Reading API responses: decode once, classify, describe without secrets.

Every module that looks at a response (the transport, the token exchange, the
stream's ``validate_response``, the sync hook, the CLI) uses these helpers, so
a response is decoded once and every message about it has one shape:
``METHOD /path answered STATUS (server's short error text)``. Only the URL
path is ever shown: query strings, headers and bodies beyond the error text
never reach a message.
"""

from __future__ import annotations

import logging
import re
import typing as t
from urllib.parse import urlsplit

import orjson
import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_mixoads.errors import DeadlineExceededError, RateLimitedError, ShortReadError

#: Longest server error text quoted in our own messages.
MAX_QUOTED_ERROR_CHARS = 120
#: Attribute under which a decoded body is cached on its response object.
_DECODED_ATTR = "mixoads_decoded_json"


def decode_json(response: requests.Response) -> t.Any:
    r"""Decode a response body once, fast, and remember the result on it.

    orjson is strict: a lone surrogate escape (``"\\ud800"``) is invalid
    UTF-8 for it. Such a body is decoded again with the standard library,
    which keeps the surrogate; the data policy then repairs that one value
    instead of the whole page failing on every attempt.

    Raises:
        ValueError: the body is not valid JSON.
    """
    cached = response.__dict__.get(_DECODED_ATTR, _MISSING)
    if cached is _MISSING:
        content = response.content
        try:
            cached = orjson.loads(content)
        except orjson.JSONDecodeError:
            cached = _decode_leniently(content)
        response.__dict__[_DECODED_ATTR] = cached
    return cached


_MISSING = object()


def _decode_leniently(content: bytes) -> t.Any:
    """The standard library's decoder, for bodies orjson refuses.

    Raises:
        ValueError: the body is not JSON at all.
    """
    import json

    try:
        text = content.decode("utf-8", errors="surrogatepass")
    except UnicodeDecodeError as exc:
        raise ValueError(str(exc)) from None
    try:
        return json.loads(text)
    except RecursionError:
        pass
    # Nested deeper than either decoder goes (orjson stops at 1,024 levels,
    # the standard library at the interpreter's recursion limit): one deep
    # value must not cost the whole page, so each container deeper than
    # MAX_JSON_DEPTH is cut to null and the data policy judges what is left
    # (a field whose value is now a nest of lists is invalid: null, counted).
    shallow, cut = without_deep_values(content)
    logging.getLogger("tap-mixoads.responses").warning(
        "A response held %d value(s) nested deeper than %d levels; each was "
        "cut to null before decoding (data policy)",
        cut,
        MAX_JSON_DEPTH,
    )
    try:
        return orjson.loads(shallow)
    except orjson.JSONDecodeError:
        return json.loads(shallow.decode("utf-8", errors="surrogatepass"))


#: Deepest nesting kept when a body is too deep to decode as it is: a page is
#: 4 levels deep (page, ``data``, campaign, value), so 64 leaves ample room.
MAX_JSON_DEPTH = 64
#: A JSON structural character or the start of a string.
_JSON_STRUCTURE = re.compile(rb'[\[\]{}"]')
#: The rest of a string after its opening quote, escapes included.
_JSON_STRING_REST = re.compile(rb'(?:[^"\\]|\\.)*"', re.DOTALL)


def without_deep_values(
    content: bytes, limit: int = MAX_JSON_DEPTH
) -> tuple[bytes, int]:
    """``content`` with every array or object deeper than ``limit`` made null.

    A linear scan that skips strings (so brackets inside text never count),
    without recursion, so any depth is handled in constant stack.

    Returns:
        The shallower JSON text and how many containers were cut.

    Raises:
        ValueError: a string is not terminated.
    """
    out = bytearray()
    depth = 0
    kept_until = 0
    cut_from: int | None = None
    cuts = 0
    position = 0
    while match := _JSON_STRUCTURE.search(content, position):
        char = content[match.start()]
        if char == ord('"'):
            rest = _JSON_STRING_REST.match(content, match.end())
            if rest is None:
                msg = "unterminated string in a deeply nested body"
                raise ValueError(msg)
            position = rest.end()
            continue
        if char in b"[{":
            depth += 1
            if depth == limit + 1:
                cut_from = match.start()
        else:
            if depth == limit + 1 and cut_from is not None:
                out += content[kept_until:cut_from] + b"null"
                kept_until = match.end()
                cut_from = None
                cuts += 1
            depth -= 1
        position = match.end()
    out += content[kept_until:]
    return bytes(out), cuts


def release(response: requests.Response) -> None:
    """Drop a consumed page's decoded body, so only the current page is held."""
    response.__dict__.pop(_DECODED_ATTR, None)


def path_of(url: str | None) -> str:
    """The path of ``url``: what messages show instead of the whole URL."""
    return urlsplit(url or "").path


def error_text(response: requests.Response) -> str:
    """The server's short error text (``error``, else ``message``, else reason)."""
    try:
        body = decode_json(response)
    except ValueError:
        body = None
    text: t.Any = response.reason or "no detail"
    if isinstance(body, dict) and (body.get("error") or body.get("message")):
        text = body.get("error") or body.get("message")
    return printable(str(text))[:MAX_QUOTED_ERROR_CHARS]


def printable(text: str) -> str:
    """``text`` with control characters (NUL, newlines) made visible.

    Server text goes into log lines, error lines and the ``sync_error``
    column; a NUL cannot be stored in PostgreSQL text, and a newline would
    split a one-line error.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def describe(response: requests.Response) -> str:
    """Return ``METHOD /path answered status (error)``, without secrets."""
    request = response.request
    method = request.method if request is not None else "?"
    return (
        f"{method} {path_of(response.url)} answered {response.status_code} "
        f"({error_text(response)})"
    )


def is_platform_error(response: requests.Response) -> bool:
    """Whether an error body has the platform's JSON shape (``error`` key).

    A proxy or a moved route answers with HTML or text; only the platform's
    own answer is evidence about the resource asked for.
    """
    try:
        body = decode_json(response)
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), str)


def describe_failure(exc: BaseException | None) -> str:
    """A one-line, secret-free description of a failed attempt or call."""
    if exc is None:
        return "unknown failure"
    if isinstance(exc, DeadlineExceededError):
        return str(exc.args[0]) if exc.args else "no complete answer in time"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"no answer within the timeout ({type(exc).__name__})"
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _refused(exc):
            return "connection refused (is the API running at api_url?)"
        return f"connection failed ({type(exc).__name__})"
    if isinstance(exc, requests.exceptions.RequestException):
        return f"connection failed ({type(exc).__name__})"
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    first = text.splitlines()[0] if text else type(exc).__name__
    return printable(first)


def endpoint_of(exc: BaseException | None) -> str | None:
    """``METHOD /path`` of the call a failure belongs to, if it says."""
    request = getattr(exc, "request", None)
    if request is None:
        response = getattr(exc, "response", None)
        request = getattr(response, "request", None)
    method = getattr(request, "method", None)
    url = getattr(request, "url", None)
    if not method or not url:
        return None
    return f"{method} {path_of(url)}"


def describe_attempt(exc: BaseException | None) -> str:
    """A failed attempt in one line that always names its endpoint.

    Transport failures (a refused connection, a timeout) say nothing of
    where they happened; the request they carry does.
    """
    text = describe_failure(exc)
    endpoint = endpoint_of(exc)
    if endpoint is None or text.startswith(endpoint.split(" ", 1)[0] + " "):
        return text
    return f"{endpoint}: {text}"


def _refused(exc: BaseException) -> bool:
    """Whether a connection error was a refusal (nothing listens there)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError):
            return True
        nested = seen.args[0] if seen.args else None
        reason = getattr(nested, "reason", None) or getattr(seen, "reason", None)
        if isinstance(reason, ConnectionRefusedError) or "Connection refused" in str(
            reason
        ):
            return True
        seen = seen.__cause__ or seen.__context__ or reason or None
        if isinstance(seen, str):
            return False
    return False


def final_failure(exc: BaseException) -> str:
    """The one line for a call that failed for good (retries exhausted or fatal).

    Says where (method and path), and the last answer or failure; a 429 that
    asked for a wait beyond reason says how long it asked for.
    """
    if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
        return f"{describe_failure(exc)}, asking to wait {exc.retry_after:g} s"
    if isinstance(exc, RetriableAPIError):
        response = exc.response
        if isinstance(exc, ShortReadError) or response is None:
            return f"{describe_failure(exc)} (on every attempt)"
        return (
            f"{response.request.method} {path_of(response.url)} failed on every "
            f"attempt: last answer {response.status_code} ({error_text(response)})"
        )
    if isinstance(exc, requests.exceptions.RequestException) and not isinstance(
        exc, requests.exceptions.HTTPError
    ):
        request = exc.request
        where = "an API call"
        if request is not None:
            where = f"{request.method} {path_of(request.url)}"
        return f"{where} failed on every attempt: {describe_failure(exc)}"
    return describe_failure(exc)
