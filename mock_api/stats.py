"""What the mock saw, exposed at ``/_mock/stats`` for tests to assert on.

Tests of the tap cannot see inside the tap's HTTP client; they can see what
arrived at the server. These counters are the evidence that the tap kept
under the rate limit, overlapped its syncs, retried after faults, and so on.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any


@dataclasses.dataclass
class ClientStats:
    """What one X-Client-ID did: the evidence of one tap installation.

    ``max_in_window`` here counts only accepted calls (those the limiter let
    through), so a test can check a client kept under the limit even when its
    rejected retries crowd the window.
    """

    requests: int = 0
    accepted: int = 0
    rate_limited: int = 0
    max_in_window: int = 0
    sync_calls: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )
    accounts: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )
    _accepted_log: collections.deque[float] = dataclasses.field(
        default_factory=collections.deque
    )

    def to_json(self) -> dict[str, Any]:
        """Return the counters as plain JSON."""
        return {
            "requests": self.requests,
            "accepted": self.accepted,
            "rate_limited": self.rate_limited,
            "max_in_window": self.max_in_window,
            "sync_calls": dict(self.sync_calls),
            "accounts": dict(self.accounts),
        }


@dataclasses.dataclass
class Stats:
    """Counters of one server run (cleared by ``/_mock/reset``)."""

    started: float
    requests: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )
    statuses: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )
    faults: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )
    sync_calls: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )
    sync_success: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )
    rate_limited: int = 0
    tokens_issued: int = 0
    concurrent_syncs: int = 0
    max_concurrent_syncs: int = 0
    max_in_window: int = 0
    api_request_times: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    clients: dict[str, ClientStats] = dataclasses.field(default_factory=dict)
    # Arrival log per client id for max_in_window; kept apart from the
    # limiter so it also measures traffic the limiter ignores.
    _windows: dict[str, collections.deque[float]] = dataclasses.field(
        default_factory=dict
    )

    def record_api_arrival(self, client: str, now: float, window: float) -> None:
        """Log one /api arrival and update the busiest-window high-water mark."""
        self.api_request_times.setdefault(client, []).append(
            round(now - self.started, 6)
        )
        log = self._windows.setdefault(client, collections.deque())
        while log and log[0] <= now - window:
            log.popleft()
        log.append(now)
        self.max_in_window = max(self.max_in_window, len(log))
        self.client(client).requests += 1

    def client(self, client: str) -> ClientStats:
        """The counters of one client id (created on first use)."""
        found = self.clients.get(client)
        if found is None:
            found = self.clients[client] = ClientStats()
        return found

    def record_accepted(self, client: str, now: float, window: float) -> None:
        """Count one call the limiter let through, in that client's window."""
        one = self.client(client)
        one.accepted += 1
        log = one._accepted_log
        while log and log[0] <= now - window:
            log.popleft()
        log.append(now)
        one.max_in_window = max(one.max_in_window, len(log))

    def record_rate_limited(self, client: str) -> None:
        """Count one 429, globally and for the client."""
        self.rate_limited += 1
        self.client(client).rate_limited += 1

    def record_sync(self, client: str, campaign_id: str) -> None:
        """Count one sync call, globally and for the client."""
        self.sync_calls[campaign_id] += 1
        self.client(client).sync_calls[campaign_id] += 1

    def sync_started(self) -> None:
        """Count one sync in flight; the maximum shows client concurrency."""
        self.concurrent_syncs += 1
        self.max_concurrent_syncs = max(
            self.max_concurrent_syncs, self.concurrent_syncs
        )

    def sync_ended(self) -> None:
        """Count one sync finished (or cancelled)."""
        self.concurrent_syncs -= 1

    def to_json(self) -> dict[str, Any]:
        """Return the counters as plain JSON."""
        return {
            "requests": dict(self.requests),
            "statuses": dict(self.statuses),
            "rate_limited": self.rate_limited,
            "faults": dict(self.faults),
            "sync_calls": dict(self.sync_calls),
            "sync_success": dict(self.sync_success),
            "concurrent_syncs": self.concurrent_syncs,
            "max_concurrent_syncs": self.max_concurrent_syncs,
            "tokens_issued": self.tokens_issued,
            "max_in_window": self.max_in_window,
            "api_request_times": self.api_request_times,
            "clients": {name: one.to_json() for name, one in self.clients.items()},
        }
