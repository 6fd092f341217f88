"""One account's API: the only place that sends a list or a sync call.

Every call takes the same path: the retry policy runs attempts; each attempt
goes through the account's transport, which paces it, puts the token on it
and holds it to the whole-attempt deadline
(:mod:`tap_mixoads.http.transport`); the answer is timed for the SDK's
``http_request_duration`` metric, classified (:mod:`tap_mixoads.http.classify`)
and, for a list page, judged by the caller's ``check`` before the attempt
counts as answered. Callers (coroutines on the engine's loop) get a good
response or an exception; they never touch a connection.
"""

from __future__ import annotations

import typing as t

import requests
from singer_sdk import metrics

from tap_mixoads.http.classify import classify
from tap_mixoads.http.endpoints import (
    CAMPAIGNS_PATH,
    SYNC_PATH,
    SyncRequests,
    prepare,
)

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    from tap_mixoads.http.client import AccountClient

#: Called with each attempt's response after it is classified; raising
#: makes the attempt fail (retried like any other failure).
Check = t.Callable[[requests.Response], object]


class AccountAPI:
    """The calls one account makes, each with the account's full policy.

    Args:
        client: the account's HTTP resources (transport, retry, token).
        url_base: the API's base URL, without a trailing slash.
        user_agent: the ``User-Agent`` header of every call.
        stream_name: the stream the calls' metrics are tagged with.
        metrics_logger: where the SDK's metric points go.
    """

    def __init__(
        self,
        *,
        client: AccountClient,
        url_base: str,
        user_agent: str,
        stream_name: str,
        metrics_logger: logging.Logger,
    ) -> None:
        self.client = client
        self.url_base = url_base
        self.stream_name = stream_name
        self.metrics_logger = metrics_logger
        self._headers = {"Accept": "application/json", "User-Agent": user_agent}
        self._syncs = SyncRequests(url_base, headers=self._headers)
        # Decorated once: a decoration per call (backoff's closures and
        # ``functools.wraps``) cost a fleet MBs for the calls waiting their turn.
        self._retrying = client.retry.decorate(self._attempt)
        self._counters = {
            endpoint: metrics.http_request_counter(stream_name, endpoint)
            for endpoint in (CAMPAIGNS_PATH, SYNC_PATH)
        }

    async def list_page(
        self, page: int, limit: int, *, check: Check
    ) -> requests.Response:
        """One page of the campaign list, classified and accepted by ``check``."""
        request = prepare(
            "GET",
            self.url_base + CAMPAIGNS_PATH,
            params={"page": page, "limit": limit},
            headers=self._headers,
        )
        return await self._call(request, CAMPAIGNS_PATH, check=check)

    async def sync_campaign(
        self, campaign_id: str, on_attempt: Callable[[], None]
    ) -> requests.Response:
        """Ask the platform to sync one campaign; ``on_attempt`` runs per attempt."""
        request = self._syncs.build(campaign_id)
        return await self._call(request, SYNC_PATH, on_attempt=on_attempt)

    def close(self) -> None:
        """Write the call counts' last metric points."""
        for counter in self._counters.values():
            counter.exit()

    async def _call(
        self,
        request: requests.PreparedRequest,
        endpoint: str,
        *,
        check: Check | None = None,
        on_attempt: Callable[[], None] | None = None,
    ) -> requests.Response:
        try:
            response: requests.Response = await self._retrying(
                request, endpoint, check, on_attempt
            )
        finally:
            self._counters[endpoint].increment()
        return response

    async def _attempt(
        self,
        request: requests.PreparedRequest,
        endpoint: str,
        check: Check | None,
        on_attempt: Callable[[], None] | None,
    ) -> requests.Response:
        """One attempt of a call: send, time, classify, accept."""
        if on_attempt is not None:
            on_attempt()
        response = await self.client.transport.send(request)
        self._log_duration(endpoint, response)
        classify(response)
        if check is not None:
            check(response)
        return response

    def _log_duration(self, endpoint: str, response: requests.Response) -> None:
        """The SDK's ``http_request_duration`` point, for one attempt."""
        metrics.log(
            self.metrics_logger,
            metrics.Point(
                "timer",
                metric=metrics.Metric.HTTP_REQUEST_DURATION,
                value=response.elapsed.total_seconds(),
                tags={
                    metrics.Tag.STREAM: self.stream_name,
                    metrics.Tag.ENDPOINT: endpoint,
                    metrics.Tag.HTTP_STATUS_CODE: response.status_code,
                    metrics.Tag.STATUS: (
                        metrics.Status.SUCCEEDED
                        if response.ok
                        else metrics.Status.FAILED
                    ),
                },
            ),
        )
