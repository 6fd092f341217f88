"""The per-account transport: what happens to every attempt, in one object.

Mounted on an account's ``requests.Session``, :class:`AccountTransport` does,
for every attempt of every call (list pages, syncs, the token call):

1. ``/api/*`` only: make sure a token is at hand (fetching one may take its
   own retries), then wait for the account's turn in its rate budget;
2. put the bearer token on the request as it leaves (a call that waited for
   its turn still leaves with a fresh token);
3. send with the timeout, and read the body within a total deadline, so a
   slow-but-steady body cannot hang the run (it is retried like a timeout);
4. on a 401, renew the token and send once more at once (with its own turn
   in the budget: the server counts every arrival); only a fresh token
   refused again is an error, left to ``validate_response``;
5. count the attempt by endpoint and status for the run report, and after a
   429 tell the budget to slow down.

The SDK's own request path (``prepare_request``, ``request_decorator``,
backoff, ``validate_response``) runs unchanged on top; this is the httpx
"transport" / requests "adapter" seam, the place meant for it.
"""

from __future__ import annotations

import collections
import datetime
import functools
import threading
import time
import typing as t
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from typing_extensions import override
from urllib3.exceptions import HTTPError, ReadTimeoutError

from tap_mixoads.errors import (
    DeadlineExceededError,
    RedirectRefusedError,
    ResponseTooLargeError,
)
from tap_mixoads.http.departure import POOL_CLASSES, report_socket, report_written
from tap_mixoads.http.endpoints import TOKEN_PATH, template_of
from tap_mixoads.http.responses import error_text, path_of
from tap_mixoads.http.watchdog import WATCHDOG, watched
from tap_mixoads.private_api import set_body

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping

    from tap_mixoads.http.budget import RequestPacer
    from tap_mixoads.http.labels import AccountLog
    from tap_mixoads.http.token import TokenSource

#: Bytes asked for per read of a body (``read1`` returns what has arrived).
#: urllib3 (>= 2.6) decompresses at most about this much per read, so a
#: compressed body is checked against ``max_response_bytes`` as it grows.
READ_CHUNK_BYTES = 64 * 1024
#: ``max_response_bytes`` when a transport is built without one.
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
#: Redirect hops followed within api_url's origin before giving up.
MAX_REDIRECTS = 3
#: Statuses that redirect (each is answered by the transport, never requests).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Methods a 301/302/303 may redirect (the others only on 307/308).
SAFE_METHODS = frozenset({"GET", "HEAD"})
#: Where an attempt's own duration is kept on its response.
REQUEST_SECONDS_ATTR = "mixoads_request_seconds"


def origin_of(url: str | None) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of ``url``, default ports spelled out."""
    parts = urlsplit(url or "")
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def request_duration(
    response: requests.Response, *_args: t.Any, **_kwargs: t.Any
) -> requests.Response:
    """Set ``elapsed`` to the attempt itself, without its wait for a turn.

    requests measures ``elapsed`` around the whole adapter send, which here
    includes waiting for the account's turn in the budget; the SDK's
    ``http_request_duration`` metric reads ``elapsed``. A response hook runs
    after requests has set it (public requests API).
    """
    seconds = response.__dict__.get(REQUEST_SECONDS_ATTR)
    if seconds is not None:
        response.elapsed = datetime.timedelta(seconds=seconds)
    return response


def _host_of(url: str | None) -> str:
    """``host:port`` of ``url`` (what a message shows of another origin)."""
    _, host, port = origin_of(url)
    return f"{host}:{port}" if port is not None else host


#: Status recorded for an attempt that got no answer at all.
NO_ANSWER = "no answer"


class CallStats:
    """Attempts by endpoint template and status: the run report's figures."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: collections.Counter[tuple[str, str]] = collections.Counter()
        self.retries = 0

    def count(self, endpoint: str, status: int | str) -> None:
        """Count one attempt."""
        with self._lock:
            self.calls[(endpoint, str(status))] += 1

    def count_retry(self, _exc: BaseException | None = None) -> None:
        """Count one retry (the policy's ``on_retry``)."""
        with self._lock:
            self.retries += 1

    def by_endpoint(self) -> dict[str, dict[str, int]]:
        """``{endpoint: {status: attempts}}``, for the run report."""
        with self._lock:
            out: dict[str, dict[str, int]] = {}
            for (endpoint, status), n in sorted(self.calls.items()):
                out.setdefault(endpoint, {})[status] = n
            return out

    def total(self, *, prefix: str = "") -> int:
        """Attempts whose endpoint template starts with ``prefix``."""
        with self._lock:
            return sum(n for (e, _), n in self.calls.items() if e.startswith(prefix))

    def count_of(self, endpoint: str, status: int | str) -> int:
        """Attempts of ``endpoint`` (``POST /api/...``) that ended in ``status``."""
        with self._lock:
            return self.calls[(endpoint, str(status))]

    def with_status(self, status: int) -> int:
        """Attempts answered ``status``, all endpoints together."""
        with self._lock:
            return sum(n for (_, s), n in self.calls.items() if s == str(status))


class AccountTransport(HTTPAdapter):
    """Budget, token, timeout, deadline and one resend on 401, per attempt.

    Args:
        client_id: sent as ``X-Client-ID`` on every call (the rate bucket).
        budget: the account's pacer (in-process or shared).
        deadline: most seconds one attempt may take, body included.
        pool_maxsize: pooled connections (sync workers plus the list calls).
        logger: where renewals and the first 429 are reported.
        stop: returns True once the run is interrupted; no call leaves then.
    """

    def __init__(
        self,
        *,
        client_id: str,
        budget: RequestPacer,
        deadline: float,
        pool_maxsize: int,
        logger: logging.Logger | AccountLog,
        api_url: str,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(pool_connections=2, pool_maxsize=pool_maxsize)
        self.client_id = client_id
        self.budget = budget
        self.deadline = deadline
        self.origin = origin_of(api_url)
        self.max_response_bytes = max_response_bytes
        self.logger = logger
        self.stats = CallStats()
        self.token: TokenSource | None = None
        self._stop = stop or (lambda: False)

    @override
    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send one attempt per the module's steps (``stream`` is ignored)."""
        options: dict[str, t.Any] = {"timeout": timeout, "verify": verify}
        options.update(cert=cert, proxies=proxies)
        # requests dispatches the caller's request hooks after it has set
        # ``elapsed`` around this whole send (our wait for a turn included);
        # the hook puts the attempt's own duration there instead.
        hooks = request.hooks.setdefault("response", [])
        if request_duration not in hooks:
            hooks.append(request_duration)
        request = request.copy()
        request.headers["X-Client-ID"] = self.client_id
        if origin_of(request.url) != self.origin:
            # Only our own code builds URLs, all under api_url: a call to any
            # other origin would carry the account's credentials there.
            msg = (
                f"{request.method} {path_of(request.url)}: refused to send to "
                f"{_host_of(request.url)}, which is not api_url's origin"
            )
            raise RedirectRefusedError(msg)
        if path_of(request.url).endswith(TOKEN_PATH) or self.token is None:
            response = self.send_direct(request, **options)
            if response.is_redirect or response.status_code in REDIRECT_STATUSES:
                # The Basic credentials go to the token endpoint only, never
                # where a redirect points (same origin or not).
                raise RedirectRefusedError(self._redirect_line(request, response))
            return response
        response = self._send_authorized(request, options)
        for _ in range(MAX_REDIRECTS):
            if response.status_code not in REDIRECT_STATUSES:
                return response
            request = self._follow(request, response)
            response = self._send_authorized(request, options)
        if response.status_code in REDIRECT_STATUSES:
            msg = (
                f"{request.method} {path_of(request.url)} answered "
                f"{response.status_code} after {MAX_REDIRECTS} redirects; not "
                "followed further"
            )
            response.close()
            raise RedirectRefusedError(msg)
        return response

    def _send_authorized(
        self, request: requests.PreparedRequest, options: dict[str, t.Any]
    ) -> requests.Response:
        """One bearer call; on a 401, a fresh token and one more send."""
        assert self.token is not None
        response = self._send_bearer(request, options)
        if response.status_code == requests.codes.unauthorized:
            self.logger.info(
                "%s %s answered 401 (%s); renewing the token and sending once more",
                request.method,
                path_of(request.url),
                error_text(response),
            )
            self.token.invalidate(request.headers.get("Authorization"))
            response = self._send_bearer(request, options)
        return response

    def _follow(
        self, request: requests.PreparedRequest, response: requests.Response
    ) -> requests.PreparedRequest:
        """The next hop of a redirect, if it stays at api_url's origin.

        Raises:
            RedirectRefusedError: no ``Location``, another origin, or a
                method the redirect would change (a POST answered 301/302/303).
        """
        location = response.headers.get("Location")
        target = urljoin(request.url or "", location) if location else None
        if target is None or origin_of(target) != self.origin:
            response.close()
            raise RedirectRefusedError(self._redirect_line(request, response))
        if request.method not in SAFE_METHODS and response.status_code not in (
            requests.codes.temporary_redirect,
            requests.codes.permanent_redirect,
        ):
            response.close()
            msg = (
                f"{request.method} {path_of(request.url)} answered "
                f"{response.status_code} redirecting to {path_of(target)}; a "
                f"{request.method} is only followed on 307/308"
            )
            raise RedirectRefusedError(msg)
        response.close()
        hop = request.copy()
        hop.url = target
        hop.headers.pop("Authorization", None)  # put on again as it leaves
        return hop

    @staticmethod
    def _redirect_line(
        request: requests.PreparedRequest, response: requests.Response
    ) -> str:
        """One line for a redirect that is not followed (no query, no token)."""
        where = (
            f"{request.method} {path_of(request.url)} answered {response.status_code}"
        )
        location = response.headers.get("Location")
        if not location:
            return f"{where} without a Location; not a campaign API answer"
        target = urljoin(request.url or "", location)
        if path_of(request.url).endswith(TOKEN_PATH):
            return (
                f"{where} redirecting to {_host_of(target)}{path_of(target)}; "
                "the token call is never redirected (is api_url the API's "
                "base URL?)"
            )
        return (
            f"{where} redirecting to {_host_of(target)}, another origin than "
            "api_url; not followed (the token goes to api_url only)"
        )

    @override
    def init_poolmanager(
        self,
        connections: int,
        maxsize: int,
        block: bool = False,
        **pool_kwargs: t.Any,
    ) -> None:
        """The pool manager, its connections reporting when requests leave."""
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(POOL_CLASSES)

    def _send_bearer(
        self, request: requests.PreparedRequest, options: dict[str, t.Any]
    ) -> requests.Response:
        assert self.token is not None
        self._check_stop()
        self.token.bearer()  # a renewal may take a while: before our turn
        self.budget.acquire()
        self._check_stop()
        # The departure guard may still wait (earlier calls left late); the
        # token goes on after it, as the request leaves: read before that
        # wait, a short-lived token could expire in flight (a 401 that its
        # resend, waiting the same way, met again).
        departed = self.budget.mark_sending()
        request.headers["Authorization"] = self.token.bearer()
        with report_written(functools.partial(self.budget.mark_sent, departed)):
            response = self.send_direct(request, **options)
        if response.status_code == requests.codes.too_many_requests and (
            self.budget.note_rate_limited(departed)
        ):
            self.logger.warning(
                "%s %s answered 429 although client id '%s' kept within its "
                "requests_per_minute: another process seems to share this client "
                "id (share its budget with shared_budget_url); slowing down",
                request.method,
                path_of(request.url),
                self.client_id,
            )
        return response

    def _check_stop(self) -> None:
        if self._stop():
            msg = "the run was interrupted; no further API call is sent"
            raise InterruptedRunError(msg)

    def send_direct(
        self, request: requests.PreparedRequest, **options: t.Any
    ) -> requests.Response:
        """Send as is (no budget, no token) and read the body within the deadline.

        Used for the token call, and by ``send`` for ``/api/*`` calls.
        """
        endpoint = f"{request.method} {template_of(path_of(request.url))}"
        started = time.monotonic()
        with watched(started + self.deadline) as watch:
            try:
                with report_socket(functools.partial(WATCHDOG.arm, watch)):
                    response = super().send(request, stream=True, **options)
                self._read_body(response, started)
            except requests.exceptions.RequestException as exc:
                self.stats.count(endpoint, NO_ANSWER)
                if watch.expired and not isinstance(exc, DeadlineExceededError):
                    # The watchdog shut the socket: say why, as a timeout.
                    raise DeadlineExceededError(
                        self._deadline_line(), request=request
                    ) from None
                raise
        self.stats.count(endpoint, response.status_code)
        # The attempt itself, from its departure (after its turn in the
        # budget) to the last byte: http_request_duration reports this (see
        # client.py), not requests' elapsed, which includes the wait.
        response.__dict__[REQUEST_SECONDS_ATTR] = time.monotonic() - started
        return response

    def _deadline_line(self) -> str:
        return (
            f"no complete answer within the {self.deadline:g} s deadline "
            "(request_deadline)"
        )

    def _read_body(self, response: requests.Response, started: float) -> None:
        """Read the whole body, giving up once the deadline has passed.

        ``read1`` returns whatever has arrived, so the deadline is checked
        between arrivals however slowly they trickle in; each read is still
        bounded by the socket timeout. The body is then stored where
        ``Response.content`` keeps it (requests' own attribute: there is no
        public setter), exactly as ``Session.send`` would have done.
        """
        raw = response.raw
        chunks: list[bytes] = []
        received = 0
        try:
            while True:
                if time.monotonic() - started > self.deadline:
                    response.close()
                    raise DeadlineExceededError(
                        self._deadline_line(), response=response
                    )
                chunk = raw.read1(READ_CHUNK_BYTES, decode_content=True)
                if not chunk:
                    break
                received += len(chunk)
                if received > self.max_response_bytes:
                    response.close()
                    request = response.request
                    msg = (
                        f"{request.method} {path_of(request.url)} answered "
                        f"{response.status_code} with a body over "
                        f"max_response_bytes ({self.max_response_bytes} bytes "
                        "decoded)"
                    )
                    raise ResponseTooLargeError(msg)
                chunks.append(chunk)
        except ReadTimeoutError as exc:
            raise requests.exceptions.ReadTimeout(exc, response=response) from exc
        except requests.exceptions.RequestException:
            # Our own DeadlineExceededError: requests' errors are OSErrors,
            # and the clause below would report it as a broken body.
            raise
        except (HTTPError, OSError) as exc:
            # urllib3's own errors for a broken body, said the way requests
            # says them (both retriable).
            raise requests.exceptions.ChunkedEncodingError(
                exc, response=response
            ) from exc
        set_body(response, b"".join(chunks))


class InterruptedRunError(requests.exceptions.RequestException):
    """The run was interrupted; raised instead of sending (never retried)."""
