"""One account's HTTP path, assembled: session, transport, token, budget, retry.

An :class:`AccountClient` is all a stream or the sync hook needs to call the
API as one account: ``session`` (with the transport mounted), ``retry`` (the
one retry policy) and the counters of the run report. Several clients live
side by side in one process, one per account, each with its own token and
budget; the budget may be shared with other processes (see
:mod:`tap_mixoads.http.shared_budget`).
"""

from __future__ import annotations

import logging
import typing as t

import requests
from typing_extensions import override

from tap_mixoads.http.labels import AccountLog
from tap_mixoads.http.retry import RetryPolicy
from tap_mixoads.http.token import TokenSource
from tap_mixoads.http.transport import DEFAULT_MAX_RESPONSE_BYTES, AccountTransport

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from tap_mixoads.http.budget import RequestPacer


class AccountClient:
    """The HTTP resources of one account.

    Args:
        api_url: the API's base URL.
        client_id: the account's client id (rate bucket, logs).
        email: the account's email.
        password: the account's password (only the token call sees it).
        budget: the account's pacer.
        timeout: connect+read timeout per attempt, seconds.
        deadline: total seconds per attempt, body included.
        max_tries: attempts per call.
        max_rate_limit_wait: longest 429 wait worth waiting out.
        pool_maxsize: pooled connections.
        max_response_bytes: largest body read (decoded), per attempt.
        label: put before every log line (the account, when there are several).
        stop: True once the run is interrupted.
    """

    def __init__(
        self,
        *,
        api_url: str,
        client_id: str,
        email: str,
        password: str,
        budget: RequestPacer,
        timeout: float,
        deadline: float,
        max_tries: int,
        max_rate_limit_wait: float,
        pool_maxsize: int,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        label: str = "",
        stop: Callable[[], bool] | None = None,
    ) -> None:
        self.client_id = client_id
        self.logger = AccountLog(logging.getLogger(f"tap-mixoads.{client_id}"), label)
        self.timeout = timeout
        self.budget = budget
        self.transport = AccountTransport(
            client_id=client_id,
            budget=budget,
            deadline=deadline,
            pool_maxsize=pool_maxsize,
            logger=self.logger,
            api_url=api_url,
            max_response_bytes=max_response_bytes,
            stop=stop,
        )
        self.stats = self.transport.stats
        self.retry = RetryPolicy(
            max_tries=max_tries,
            max_rate_limit_wait=max_rate_limit_wait,
            logger=self.logger,
            on_retry=self.stats.count_retry,
        )
        self.session = requests.Session()
        # Proxies from the environment (HTTPS_PROXY, NO_PROXY, ...) are read
        # once, here: requests scans the whole environment on every send
        # (6% of the tap's CPU with 100 accounts, by py-spy). With
        # trust_env off it uses ``session.proxies`` as set here; it also
        # skips ~/.netrc, which no call needs (each carries its credentials).
        self.session.proxies.update(requests.utils.get_environ_proxies(api_url))
        self.session.trust_env = False
        self.session.mount("http://", self.transport)
        self.session.mount("https://", self.transport)
        # The transport answers every redirect itself (api_url's origin only);
        # requests must never follow one (it would call the transport again
        # for another host, and the token would go there).
        self.session.max_redirects = 0
        self.token = TokenSource(
            api_url=api_url,
            email=email,
            password=password,
            client_id=client_id,
            send=self._send_token_call,
            logger=self.logger,
        )
        self.transport.token = self.token

    @override
    def __repr__(self) -> str:
        """Never show credentials."""
        return f"AccountClient(client_id={self.client_id!r})"

    def _send_token_call(self, request: requests.PreparedRequest) -> requests.Response:
        return self.session.send(request, timeout=self.timeout)

    def close(self) -> None:
        """Close pooled connections and the budget's store connection."""
        self.session.close()
        self.budget.close()
