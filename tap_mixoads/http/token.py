"""The token exchange: Basic credentials in, one bearer token out, renewed early.

The Ad Platform API wants ``POST /auth/token`` with ``Basic email:password``
and answers a bearer token valid for ``expires_in`` seconds from
``issued_at``. One :class:`TokenSource` serves one account (every stream and
every sync call of it), so an account asks for a token once and again
only shortly before it expires, or when the server refused the one we sent
(``invalidate``).

The token call goes through the account's transport (timeout and deadline,
no rate budget: the endpoint is not rate limited). It has no retry loop of
its own: an exchange is part of the attempt of the call that needs the
token, so a call makes at most ``max_retries`` attempts, exchanges
included, and a failed exchange is retried with that call.

Secrets stay here: the password only ever goes into the Basic header of the
token call, the token only into ``Authorization`` headers, and neither appears
in a log line, an error message or ``repr``.
"""

from __future__ import annotations

import asyncio
import base64
import time
import typing as t

import requests
from typing_extensions import override

from tap_mixoads.errors import (
    AuthenticationError,
    RateLimitedError,
    RetriableError,
    TokenEndpointError,
)
from tap_mixoads.http.endpoints import prepare
from tap_mixoads.http.responses import decode_json, describe, path_of
from tap_mixoads.http.retry import parse_retry_after

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Awaitable, Callable

    from tap_mixoads.http.labels import AccountLog


TOKEN_PATH = "/auth/token"
#: Lifetime assumed when the token response does not say (the documented value).
DEFAULT_TOKEN_LIFETIME_SECONDS = 3600.0
#: Renew this long before expiry at most ...
MAX_REFRESH_MARGIN_SECONDS = 60.0
#: ... and at least this fraction of the lifetime early (short-lived tokens).
REFRESH_MARGIN_FRACTION = 0.1


def token_url(api_url: str) -> str:
    """The token endpoint under ``api_url``."""
    return api_url.rstrip("/") + TOKEN_PATH


class TokenSource:
    """Trades Basic credentials for a bearer token and renews it before expiry.

    Args:
        api_url: base URL of the API (the token path is appended).
        email: account email.
        password: account password.
        client_id: value of ``X-Client-ID`` on the token call.
        send: sends one prepared request (the account's transport, no budget).
        logger: where renewals are logged.
    """

    def __init__(
        self,
        *,
        api_url: str,
        email: str,
        password: str,
        client_id: str,
        send: Callable[[requests.PreparedRequest], Awaitable[requests.Response]],
        logger: logging.Logger | AccountLog,
    ) -> None:
        self.url = token_url(api_url)
        basic = base64.b64encode(f"{email}:{password}".encode()).decode("ascii")
        self._headers = {
            "Authorization": f"Basic {basic}",
            "X-Client-ID": client_id,
            "Accept": "application/json",
        }
        self._send = send
        # One exchange per attempt of the call that needs the token: a
        # failed exchange is a failed attempt of that call, retried by its
        # policy. (A retry loop of its own here sat inside every call's loop:
        # 8 x 8 = 64 attempts, 10 minutes, against an API that is down.)
        self._fetch = self._attempt
        self.logger = logger
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.tokens_obtained = 0

    @override
    def __repr__(self) -> str:
        """Never show credentials, even in a debugger or a crash report."""
        return f"TokenSource(url={self.url!r})"

    async def bearer(self) -> str:
        """``Bearer <token>`` with a token not about to expire.

        Concurrent calls of the account wait for one renewal instead of each
        asking for its own token.
        """
        if self._token is not None and time.monotonic() < self._refresh_at:
            return f"Bearer {self._token}"
        async with self._lock:
            if self._token is None or time.monotonic() >= self._refresh_at:
                self._token, self._refresh_at = await self._fetch()
            return f"Bearer {self._token}"

    def invalidate(self, sent: str | None) -> None:
        """Forget the token sent as ``sent``, because the server refused it.

        Only that token is dropped: if another call already renewed it, the
        new one stays.
        """
        if self._token is not None and sent == f"Bearer {self._token}":
            self._token = None

    def expire_now(self) -> None:
        """Treat the current token as due for renewal (tests, clock skew)."""
        self._refresh_at = 0.0

    async def _attempt(self) -> tuple[str, float]:
        """One call to the token endpoint.

        Returns:
            The token and the monotonic time at which to renew it.

        Raises:
            AuthenticationError: the credentials were refused (no retry).
            RateLimitedError: 429 (retried as the server asks).
            RetriableError: 5xx or a malformed 200 (retried).
            TokenEndpointError: any other status (no retry).
        """
        request = prepare("POST", self.url, headers=self._headers)
        started, started_wall = time.monotonic(), time.time()
        response = await self._send(request)
        status = response.status_code
        if status == requests.codes.ok:
            parsed = self._parse(response, started, started_wall)
            if parsed is None:
                msg = f"POST {path_of(self.url)} answered 200 with a malformed token"
                raise RetriableError(msg, response)
            return parsed
        if status in {requests.codes.unauthorized, requests.codes.forbidden}:
            raise AuthenticationError(self._refusal(response))
        if status == requests.codes.too_many_requests:
            raise RateLimitedError(
                describe(response), response, parse_retry_after(response)
            )
        if status >= requests.codes.internal_server_error:
            raise RetriableError(describe(response), response)
        msg = f"{describe(response)}: is api_url the API's base URL?"
        raise TokenEndpointError(msg)

    def _refusal(self, response: requests.Response) -> str:
        """Say what refused us: wrong credentials, or not the token endpoint."""
        text = ""
        try:
            body = decode_json(response)
        except ValueError:
            body = None
        if isinstance(body, dict):
            text = f"{body.get('error', '')} {body.get('message', '')}".lower()
        if "bearer" in text:
            # An /api/* route answered: api_url points one level too deep.
            return (
                f"{describe(response)}: that URL wants a bearer token, so it is "
                "not the token endpoint; check api_url (the API's base URL, "
                "without /api)"
            )
        return f"{describe(response)}: check the email and password settings"

    def _parse(
        self, response: requests.Response, started: float, started_wall: float
    ) -> tuple[str, float] | None:
        """Read token and renewal time from a 200, or None if it is malformed.

        The renewal time trusts the response in hand: a token whose
        ``issued_at`` lies in the past expires earlier than ``expires_in``
        alone suggests. A server clock that runs ahead of ours cannot make
        the token look younger than the moment we asked for it.
        """
        try:
            body = decode_json(response)
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
        self.tokens_obtained += 1
        self.logger.info(
            "Obtained a bearer token (valid %.0f s; renewing %.0f s before expiry)",
            lifetime - age,
            margin,
        )
        return token, started + lifetime - age - margin
