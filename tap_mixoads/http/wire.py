"""One HTTP exchange on the event loop: aiohttp below, one vocabulary above.

Every call of the run (token, list, sync; every account) leaves through one
:class:`Wire`: one aiohttp session, its connection pool shared by all the
accounts, on the engine's event loop (:mod:`tap_mixoads.engine.loop`). A call
in flight costs a socket and a small task, not a thread, so a thousand
accounts with hundreds of two-second sync calls in flight run on one thread.

:func:`Wire.exchange` sends one attempt as it is (no redirect is followed,
no cookie kept, a proxy only if the environment names one for ``api_url``)
and bounds every wait: the connect and each read by ``request_timeout``,
the whole attempt (connect, headers, body) by ``request_deadline``, the
decoded body by ``max_response_bytes``. The answer comes back as a
``requests.Response`` and failures as ``requests`` exceptions: those types
are the vocabulary the classification, the retry policy and every message
already speak (``requests`` is a data model here; it sends nothing).
"""

from __future__ import annotations

import asyncio
import datetime
import time
import typing as t

import aiohttp
import requests
from requests.structures import CaseInsensitiveDict
from yarl import URL

from tap_mixoads.errors import DeadlineExceededError, ResponseTooLargeError
from tap_mixoads.http.responses import path_of
from tap_mixoads.private_api import set_body

if t.TYPE_CHECKING:
    from collections.abc import Callable

#: ``max_response_bytes`` when a wire is built without one.
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
#: Headers aiohttp writes itself from the body it is given.
_OWN_HEADERS = frozenset({"content-length", "transfer-encoding"})


async def _leaving(
    _session: aiohttp.ClientSession, context: t.Any, _params: object
) -> None:
    """Tell the attempt's ``on_written`` (if any) that its request leaves now.

    aiohttp signals "headers sent" before it writes them: a request without
    a body is written in the same step, but one with a body (a sync call)
    has its headers held back and written with the body, by a task that
    runs a turn of the loop later, when the "chunk sent" signal comes (again
    just before the write). Both report; the later one is the departure.
    """
    on_written = context.trace_request_ctx
    if on_written is not None:
        on_written(time.monotonic())


class Wire:
    """The run's HTTP connections, for every account.

    Args:
        proxy: the proxy URL the environment names for ``api_url``, if any.
        max_response_bytes: largest decoded body read per attempt.
    """

    def __init__(
        self,
        *,
        proxy: str | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.proxy = proxy
        self.max_response_bytes = max_response_bytes
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def for_api(cls, api_url: str, *, max_response_bytes: int) -> Wire:
        """A wire with the environment's proxy for ``api_url``, read once.

        ``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``
        are read the way ``requests`` reads them (lower and upper case).
        """
        proxies = requests.utils.get_environ_proxies(api_url)
        scheme = URL(api_url).scheme
        proxy = proxies.get(scheme) or proxies.get("all")
        return cls(proxy=proxy, max_response_bytes=max_response_bytes)

    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session (created on first use, on the running loop)."""
        if self._session is None or self._session.closed:
            trace = aiohttp.TraceConfig()
            trace.on_request_headers_sent.append(_leaving)
            trace.on_request_chunk_sent.append(_leaving)
            self._session = aiohttp.ClientSession(
                # No cap of its own: the rate budgets bound the calls in
                # flight, and a call queued here would leave after its turn.
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
                cookie_jar=aiohttp.DummyCookieJar(),
                trace_configs=[trace],
                trust_env=False,  # the proxy was read once, in for_api
                auto_decompress=True,
            )
        return self._session

    async def close(self) -> None:
        """Close the pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def exchange(
        self,
        request: requests.PreparedRequest,
        *,
        timeout: float,
        deadline: float,
        on_written: Callable[[float], None] | None = None,
    ) -> requests.Response:
        """Send one attempt and read its whole answer within the bounds.

        Raises:
            DeadlineExceededError: the attempt outlasted ``deadline``.
            ResponseTooLargeError: the body grew past ``max_response_bytes``.
            requests.exceptions.RequestException: no (complete) answer.
        """
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in _OWN_HEADERS
        }
        started = time.monotonic()
        limit = asyncio.timeout(deadline)
        try:
            async with limit:
                try:
                    async with self.session().request(
                        request.method or "GET",
                        URL(request.url or "", encoded=True),
                        headers=headers,
                        data=request.body,
                        allow_redirects=False,
                        proxy=self.proxy,
                        timeout=aiohttp.ClientTimeout(
                            total=None, sock_connect=timeout, sock_read=timeout
                        ),
                        trace_request_ctx=on_written,
                    ) as answer:
                        body = await self._read(answer, request)
                except aiohttp.ClientError as exc:
                    raise _as_requests_error(exc, request) from exc
                except TimeoutError as exc:
                    if limit.expired():
                        raise
                    raise requests.exceptions.ReadTimeout(
                        str(exc) or "read timed out", request=request
                    ) from exc
        except TimeoutError:
            if not limit.expired():
                raise
            msg = (
                f"no complete answer within the {deadline:g} s deadline "
                "(request_deadline)"
            )
            raise DeadlineExceededError(msg, request=request) from None
        return _response(request, answer, body, time.monotonic() - started)

    async def _read(
        self, answer: aiohttp.ClientResponse, request: requests.PreparedRequest
    ) -> bytes:
        """The decoded body, refused once it grows past the cap."""
        chunks: list[bytes] = []
        received = 0
        async for chunk in answer.content.iter_any():
            received += len(chunk)
            if received > self.max_response_bytes:
                answer.close()
                msg = (
                    f"{request.method} {path_of(request.url)} answered "
                    f"{answer.status} with a body over max_response_bytes "
                    f"({self.max_response_bytes} bytes decoded)"
                )
                raise ResponseTooLargeError(msg)
            chunks.append(chunk)
        return b"".join(chunks)


def _response(
    request: requests.PreparedRequest,
    answer: aiohttp.ClientResponse,
    body: bytes,
    seconds: float,
) -> requests.Response:
    """The answer as a ``requests.Response`` (what every reader of it takes)."""
    response = requests.Response()
    response.status_code = answer.status
    response.reason = answer.reason or ""
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for key, value in answer.headers.items():
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    response.headers = headers
    response.url = request.url or ""
    response.request = request
    response.encoding = answer.get_encoding() if body else None
    response.elapsed = datetime.timedelta(seconds=seconds)
    set_body(response, body)
    return response


def _as_requests_error(
    exc: aiohttp.ClientError, request: requests.PreparedRequest
) -> requests.exceptions.RequestException:
    """The taxonomy the retry policy and messages use, for an aiohttp failure."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return requests.exceptions.ConnectTimeout(text, request=request)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return requests.exceptions.ReadTimeout(text, request=request)
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return requests.exceptions.ProxyError(text, request=request)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return requests.exceptions.ChunkedEncodingError(text, request=request)
    return requests.exceptions.ConnectionError(text, request=request)
