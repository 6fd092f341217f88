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
import functools
import threading
import time
import typing as t

import requests
from requests.adapters import HTTPAdapter
from typing_extensions import override
from urllib3.exceptions import HTTPError, ReadTimeoutError

from tap_mixoads.errors import DeadlineExceededError
from tap_mixoads.http.departure import POOL_CLASSES, report_written
from tap_mixoads.http.endpoints import TOKEN_PATH, template_of
from tap_mixoads.http.responses import error_text, path_of

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping

    from tap_mixoads.http.budget import RequestPacer
    from tap_mixoads.http.token import TokenSource

#: Bytes asked for per read of a body (``read1`` returns what has arrived).
READ_CHUNK_BYTES = 64 * 1024
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
        logger: logging.Logger,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(pool_connections=2, pool_maxsize=pool_maxsize)
        self.client_id = client_id
        self.budget = budget
        self.deadline = deadline
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
        request = request.copy()
        request.headers["X-Client-ID"] = self.client_id
        if path_of(request.url).endswith(TOKEN_PATH) or self.token is None:
            return self.send_direct(request, **options)
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
        request.headers["Authorization"] = self.token.bearer()
        departed = self.budget.mark_sending()
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
        try:
            response = super().send(request, stream=True, **options)
            self._read_body(response, started)
        except requests.exceptions.RequestException:
            self.stats.count(endpoint, NO_ANSWER)
            raise
        self.stats.count(endpoint, response.status_code)
        return response

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
        try:
            while True:
                if time.monotonic() - started > self.deadline:
                    response.close()
                    msg = (
                        f"no complete answer within the {self.deadline:g} s "
                        "deadline (request_deadline)"
                    )
                    raise DeadlineExceededError(msg, response=response)
                chunk = raw.read1(READ_CHUNK_BYTES, decode_content=True)
                if not chunk:
                    break
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
        response._content = b"".join(chunks)


class InterruptedRunError(requests.exceptions.RequestException):
    """The run was interrupted; raised instead of sending (never retried)."""
