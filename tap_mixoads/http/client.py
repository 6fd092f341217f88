"""One account's HTTP path, assembled: transport, token, budget, retry.

An :class:`AccountClient` is all the engine needs to call the API as one
account: ``transport`` (pace, token, deadline, redirects; see
:mod:`tap_mixoads.http.transport`), ``retry`` (the one retry policy) and the
counters of the run report. Many clients live side by side in one process,
one per account, each with its own token and budget, all sending through
the run's one :class:`~tap_mixoads.http.wire.Wire`; the budget may be shared
with other processes (see :mod:`tap_mixoads.http.shared_budget`).
"""

from __future__ import annotations

import logging
import typing as t

from typing_extensions import override

from tap_mixoads.http.labels import AccountLog
from tap_mixoads.http.retry import RetryPolicy
from tap_mixoads.http.token import TokenSource
from tap_mixoads.http.transport import AccountTransport

if t.TYPE_CHECKING:
    from collections.abc import Callable

    import requests

    from tap_mixoads.http.budget import RequestPacer
    from tap_mixoads.http.wire import Wire


class AccountClient:
    """The HTTP resources of one account.

    Args:
        api_url: the API's base URL.
        client_id: the account's client id (rate bucket, logs).
        email: the account's email.
        password: the account's password (only the token call sees it).
        budget: the account's pacer.
        wire: the run's connections.
        timeout: connect and per-read timeout per attempt, seconds.
        deadline: total seconds per attempt, body included.
        max_tries: attempts per call.
        max_rate_limit_wait: longest 429 wait worth waiting out.
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
        wire: Wire,
        timeout: float,
        deadline: float,
        max_tries: int,
        max_rate_limit_wait: float,
        label: str = "",
        stop: Callable[[], bool] | None = None,
    ) -> None:
        self.client_id = client_id
        self.logger = AccountLog(logging.getLogger(f"tap-mixoads.{client_id}"), label)
        self.budget = budget
        self.transport = AccountTransport(
            client_id=client_id,
            budget=budget,
            wire=wire,
            timeout=timeout,
            deadline=deadline,
            logger=self.logger,
            api_url=api_url,
            stop=stop,
        )
        self.stats = self.transport.stats
        self.retry = RetryPolicy(
            max_tries=max_tries,
            max_rate_limit_wait=max_rate_limit_wait,
            logger=self.logger,
            on_retry=self.stats.count_retry,
        )
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

    async def _send_token_call(
        self, request: requests.PreparedRequest
    ) -> requests.Response:
        return await self.transport.send(request)

    async def login(self) -> None:
        """Trade the credentials for a token (with the call's retry policy)."""
        await self.retry.decorate(self.token.bearer)()

    def close(self) -> None:
        """Release the budget's store connection."""
        self.budget.close()
