"""The per-account transport: what happens to every attempt, in one object.

:class:`AccountTransport` does, for every attempt of every call (list
pages, syncs, the token call), on the engine's event loop:

1. ``/api/*`` only: make sure a token is at hand (fetching one may take its
   own retries), then wait for the account's turn in its rate budget;
2. put the bearer token on the request as it leaves (a call that waited for
   its turn still leaves with a fresh token);
3. send through the run's :class:`~tap_mixoads.http.wire.Wire` with the
   timeout, the whole-attempt deadline and the body cap, so a
   slow-but-steady answer cannot hang the run (it is retried like a timeout);
4. on a 401, renew the token and send once more at once (with its own turn
   in the budget: the server counts every arrival); only a fresh token
   refused again is an error, left to the classification;
5. count the attempt by endpoint and status for the run report, and after a
   429 tell the budget to slow down;
6. answer redirects itself: followed only within ``api_url``'s origin, and
   never for the token call (the credentials go nowhere else).

:mod:`tap_mixoads.http.api` runs the retry policy and the classification on
top.
"""

from __future__ import annotations

import typing as t
from urllib.parse import urljoin, urlsplit

import requests

from tap_mixoads.errors import RedirectRefusedError
from tap_mixoads.http.endpoints import TOKEN_PATH, template_of
from tap_mixoads.http.responses import error_text, path_of
from tap_mixoads.http.stats import NO_ANSWER, CallStats

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    from tap_mixoads.http.budget import RequestPacer
    from tap_mixoads.http.labels import AccountLog
    from tap_mixoads.http.token import TokenSource
    from tap_mixoads.http.wire import Wire

#: Redirect hops followed within api_url's origin before giving up.
MAX_REDIRECTS = 3
#: Statuses that redirect (each is answered by the transport, never requests).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Methods a 301/302/303 may redirect (the others only on 307/308).
SAFE_METHODS = frozenset({"GET", "HEAD"})


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


def _host_of(url: str | None) -> str:
    """``host:port`` of ``url`` (what a message shows of another origin)."""
    _, host, port = origin_of(url)
    return f"{host}:{port}" if port is not None else host


class AccountTransport:
    """Budget, token, deadline, redirects and one resend on 401, per attempt.

    Args:
        client_id: sent as ``X-Client-ID`` on every call (the rate bucket).
        budget: the account's pacer (in-process or shared).
        wire: the run's connections (see :mod:`tap_mixoads.http.wire`).
        timeout: seconds for the connect and for each read.
        deadline: most seconds one attempt may take, body included.
        logger: where renewals and the first 429 are reported.
        api_url: the only origin any call goes to.
        stop: returns True once the run is interrupted; no call leaves then.
    """

    def __init__(
        self,
        *,
        client_id: str,
        budget: RequestPacer,
        wire: Wire,
        timeout: float,
        deadline: float,
        logger: logging.Logger | AccountLog,
        api_url: str,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        self.client_id = client_id
        self.budget = budget
        self.wire = wire
        self.timeout = timeout
        self.deadline = deadline
        self.origin = origin_of(api_url)
        self.logger = logger
        self.stats = CallStats()
        self.token: TokenSource | None = None
        self._stop = stop or (lambda: False)

    async def send(self, request: requests.PreparedRequest) -> requests.Response:
        """Send one attempt per the module's steps."""
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
            response = await self.send_direct(request)
            if response.is_redirect or response.status_code in REDIRECT_STATUSES:
                # The Basic credentials go to the token endpoint only, never
                # where a redirect points (same origin or not).
                raise RedirectRefusedError(self._redirect_line(request, response))
            return response
        response = await self._send_authorized(request)
        for _ in range(MAX_REDIRECTS):
            if response.status_code not in REDIRECT_STATUSES:
                return response
            request = self._follow(request, response)
            response = await self._send_authorized(request)
        if response.status_code in REDIRECT_STATUSES:
            msg = (
                f"{request.method} {path_of(request.url)} answered "
                f"{response.status_code} after {MAX_REDIRECTS} redirects; not "
                "followed further"
            )
            raise RedirectRefusedError(msg)
        return response

    async def _send_authorized(
        self, request: requests.PreparedRequest
    ) -> requests.Response:
        """One bearer call; on a 401, a fresh token and one more send."""
        assert self.token is not None
        response = await self._send_bearer(request)
        if response.status_code == requests.codes.unauthorized:
            self.logger.info(
                "%s %s answered 401 (%s); renewing the token and sending once more",
                request.method,
                path_of(request.url),
                error_text(response),
            )
            self.token.invalidate(request.headers.get("Authorization"))
            response = await self._send_bearer(request)
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
            raise RedirectRefusedError(self._redirect_line(request, response))
        if request.method not in SAFE_METHODS and response.status_code not in (
            requests.codes.temporary_redirect,
            requests.codes.permanent_redirect,
        ):
            msg = (
                f"{request.method} {path_of(request.url)} answered "
                f"{response.status_code} redirecting to {path_of(target)}; a "
                f"{request.method} is only followed on 307/308"
            )
            raise RedirectRefusedError(msg)
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

    async def _send_bearer(
        self, request: requests.PreparedRequest
    ) -> requests.Response:
        assert self.token is not None
        self._check_stop()
        await self.token.bearer()  # a renewal may take a while: before our turn
        await self.budget.turn()
        self._check_stop()
        # The departure guard may still wait (earlier calls left late); the
        # token goes on after it, as the request leaves: read before that
        # wait, a short-lived token could expire in flight (a 401 that its
        # resend, waiting the same way, met again).
        departed = await self.budget.mark_sending()
        request.headers["Authorization"] = await self.token.bearer()
        response = await self.send_direct(
            request, on_written=_Departure(self.budget, departed).left
        )
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

    async def send_direct(
        self,
        request: requests.PreparedRequest,
        on_written: Callable[[float], None] | None = None,
    ) -> requests.Response:
        """Send as is (no budget, no token), counted for the run report.

        Used for the token call, and by ``send`` for ``/api/*`` calls.
        """
        endpoint = f"{request.method} {template_of(path_of(request.url))}"
        try:
            response = await self.wire.exchange(
                request,
                timeout=self.timeout,
                deadline=self.deadline,
                on_written=on_written,
            )
        except requests.exceptions.RequestException:
            self.stats.count(endpoint, NO_ANSWER)
            raise
        self.stats.count(endpoint, response.status_code)
        return response


class _Departure:
    """One call's recorded departure, moved to each later report of leaving."""

    __slots__ = ("_budget", "_recorded")

    def __init__(self, budget: RequestPacer, recorded: float) -> None:
        self._budget = budget
        self._recorded = recorded

    def left(self, at: float) -> None:
        """The request is being written at ``at`` (reported once or twice)."""
        if at > self._recorded:
            self._budget.mark_sent(self._recorded, at)
            self._recorded = at


class InterruptedRunError(requests.exceptions.RequestException):
    """The run was interrupted; raised instead of sending (never retried)."""
