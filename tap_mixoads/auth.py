"""The token-exchange authenticator: Basic credentials in, one bearer token out.

The Ad Platform API wants ``POST /auth/token`` with ``Basic email:password`` and
answers a bearer token valid for ``expires_in`` seconds from ``issued_at``. One
authenticator serves the whole run (every stream and every sync worker thread),
so a run asks for a token once and again only shortly before it expires, or
when the server says it already has (``invalidate``).

Secrets stay in this module: the password only ever goes into the Basic header
of the token call, the token only into the ``Authorization`` header of API
calls, and neither appears in a log line or an error message.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import typing as t
from urllib.parse import urlsplit

import requests
from singer_sdk.authenticators import APIAuthenticatorBase

from tap_mixoads.errors import AuthenticationError, RateLimitedError, TokenEndpointError
from tap_mixoads.retry import parse_retry_after, wait_for

if t.TYPE_CHECKING:
    from collections.abc import Callable

TOKEN_PATH = "/auth/token"
#: Lifetime assumed when the token response does not say (the documented value).
DEFAULT_TOKEN_LIFETIME_SECONDS = 3600.0
#: Renew this long before expiry at most ...
MAX_REFRESH_MARGIN_SECONDS = 60.0
#: ... and at least this fraction of the lifetime early (short-lived tokens).
REFRESH_MARGIN_FRACTION = 0.1
#: Longest server error text quoted in our own messages.
MAX_QUOTED_ERROR_CHARS = 120


def _quote_error(response: requests.Response) -> str:
    """Return the server's short error text, for messages that help the user."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or "no detail"
    if isinstance(body, dict):
        text = body.get("error") or body.get("message") or response.reason
        return str(text)[:MAX_QUOTED_ERROR_CHARS]
    return response.reason or "no detail"


class MixoAdsAuthenticator(APIAuthenticatorBase):
    """Trades Basic credentials for a bearer token and renews it before expiry.

    Args:
        api_url: base URL of the API (the token path is appended).
        email: account email.
        password: account password.
        client_id: value of ``X-Client-ID`` on the token call.
        timeout: connect+read timeout in seconds.
        max_tries: attempts at the token endpoint before giving up.
        session: the HTTP session to use (tests may pass their own).
        sleep: how to wait between attempts (tests may pass a fake).
    """

    def __init__(
        self,
        *,
        api_url: str,
        email: str,
        password: str,
        client_id: str,
        timeout: float,
        max_tries: int,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.logger = logging.getLogger("tap-mixoads.auth")
        self._token_url = api_url.rstrip("/") + TOKEN_PATH
        # For messages: the path as the server sees it, base path included.
        self._token_path = urlsplit(self._token_url).path
        basic = base64.b64encode(f"{email}:{password}".encode()).decode("ascii")
        self._token_headers = {
            "Authorization": f"Basic {basic}",
            "X-Client-ID": client_id,
            "Accept": "application/json",
        }
        self._timeout = timeout
        self._max_tries = max_tries
        self._session = session or requests.Session()
        self._sleep = sleep
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.tokens_obtained = 0

    def __repr__(self) -> str:
        """Never show credentials, even in a debugger or a crash report."""
        return f"MixoAdsAuthenticator(token_url={self._token_url!r})"

    def authenticate_request(
        self,
        request: requests.PreparedRequest,
    ) -> requests.PreparedRequest:
        """Put a valid bearer token on ``request``, renewing it first if due."""
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    def token(self) -> str:
        """Return a token that is not about to expire, fetching one if needed.

        Thread-safe: concurrent sync workers wait for one renewal instead of
        each asking for its own token.
        """
        with self._lock:
            if self._token is None or time.monotonic() >= self._refresh_at:
                self._token, self._refresh_at = self._fetch_token()
            return self._token

    def invalidate(self, request: requests.PreparedRequest | None) -> None:
        """Forget the token ``request`` was sent with, because it expired.

        Only that token is dropped: if another thread already renewed it, the
        new one stays.
        """
        sent = (
            request.headers.get("Authorization") if request is not None else None
        ) or ""
        with self._lock:
            if self._token is not None and sent == f"Bearer {self._token}":
                self._token = None

    def _fetch_token(self) -> tuple[str, float]:
        """Call the token endpoint, retrying transient failures.

        Returns:
            The token and the monotonic time at which to renew it.

        Raises:
            AuthenticationError: the credentials were refused (no retry).
            TokenEndpointError: the endpoint failed on every attempt.
        """
        last_problem = "no attempt made"
        for attempt in range(1, self._max_tries + 1):
            started = time.monotonic()
            started_wall = time.time()
            problem: BaseException | None = None
            try:
                response = self._session.post(
                    self._token_url, headers=self._token_headers, timeout=self._timeout
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                last_problem = f"{type(exc).__name__} (no answer)"
            else:
                status = response.status_code
                if status == requests.codes.ok:
                    parsed = self._parse(response, started, started_wall)
                    if parsed is not None:
                        return parsed
                    last_problem = "200 with a malformed token body"
                elif status in {requests.codes.unauthorized, requests.codes.forbidden}:
                    msg = (
                        f"POST {self._token_path} answered {status} "
                        f"({_quote_error(response)}): check the email and password "
                        "settings"
                    )
                    raise AuthenticationError(msg)
                elif status == requests.codes.too_many_requests:
                    last_problem = f"{status} ({_quote_error(response)})"
                    problem = RateLimitedError(
                        last_problem, response, parse_retry_after(response)
                    )
                elif status >= requests.codes.internal_server_error:
                    last_problem = f"{status} ({_quote_error(response)})"
                else:
                    detail = _quote_error(response)
                    msg = f"POST {self._token_path} answered {status} ({detail})"
                    raise TokenEndpointError(msg)
            if attempt < self._max_tries:
                delay = wait_for(problem, attempt)
                self.logger.warning(
                    "POST %s failed (%s), attempt %d of %d; retrying in %.1f s",
                    self._token_path,
                    last_problem,
                    attempt,
                    self._max_tries,
                    delay,
                )
                self._sleep(delay)
        msg = (
            f"POST {self._token_path} failed after {self._max_tries} attempts: "
            f"{last_problem}"
        )
        raise TokenEndpointError(msg)

    def _parse(
        self, response: requests.Response, started: float, started_wall: float
    ) -> tuple[str, float] | None:
        """Read token and renewal time from a 200, or None if it is malformed.

        The renewal time trusts the response in hand: a token whose
        ``issued_at`` lies in the past (the server handed out an older token)
        expires earlier than ``expires_in`` alone suggests. A server clock
        that runs ahead of ours cannot make the token look younger than the
        moment we asked for it.
        """
        try:
            body = response.json()
            token = body["access_token"]
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(token, str) or not token:
            return None
        try:
            lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME_SECONDS)
        except (TypeError, ValueError):
            lifetime = DEFAULT_TOKEN_LIFETIME_SECONDS
        age = 0.0
        issued_at = body.get("issued_at")
        if isinstance(issued_at, (int, float)) and not isinstance(issued_at, bool):
            age = max(0.0, started_wall - float(issued_at))
            if age >= lifetime:
                # Clocks disagree wildly; the 401 fallback covers a wrong guess.
                self.logger.warning(
                    "Token issued_at lies %.0f s in the past (more than its "
                    "lifetime): assuming clock skew",
                    age,
                )
                age = 0.0
        margin = min(MAX_REFRESH_MARGIN_SECONDS, lifetime * REFRESH_MARGIN_FRACTION)
        refresh_at = started + lifetime - age - margin
        self.tokens_obtained += 1
        self.logger.info(
            "Obtained a bearer token (valid %.0f s; renewing %.0f s before expiry)",
            lifetime - age,
            margin,
        )
        return token, refresh_at
