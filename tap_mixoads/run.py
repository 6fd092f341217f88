"""What one run shares: its accounts' HTTP clients, the stop flag, failures.

Built by the tap from its validated config and handed to the streams
explicitly. Clients are created on first use (never at import time, never for
``--about`` or ``--discover``), one per account, each with its own session,
token and budget.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import typing as t

from tap_mixoads.accounts import Account, accounts_from_config
from tap_mixoads.http.client import AccountClient
from tap_mixoads.http.shared_budget import make_pacer

#: Deadline of one attempt, as a multiple of ``request_timeout``, when
#: ``request_deadline`` is not set.
DEADLINE_TIMEOUTS = 3.0


@dataclasses.dataclass
class AccountReport:
    """What one account's run did, for its closing line and the run report."""

    account: Account
    client: AccountClient
    extracted: int = 0
    syncer: CampaignSyncerLike | None = None

    def summary_line(self) -> str:
        """``100 campaigns, synced 98/100 (...); 203 calls, 0 x 429, 1 retry``."""
        stats = self.client.stats
        line = f"{self.extracted} campaigns"
        if self.syncer is not None:
            line += f", {self.syncer.summary()}"
        return (
            f"{line}; {stats.total()} calls, {stats.with_status(429)} x 429, "
            f"{stats.retries} retries, {self.client.token.tokens_obtained} tokens"
        )


class CampaignSyncerLike(t.Protocol):
    """What the report reads from the sync hook (kept below it in layers)."""

    def summary(self) -> str:
        """The hook's one-line summary."""
        ...


class RunContext:
    """The run's accounts and their clients, and how the run is going.

    Args:
        config: the tap's validated config.
        logger: the tap's logger.
    """

    def __init__(self, config: t.Mapping[str, t.Any], logger: logging.Logger) -> None:
        self.config = config
        self.logger = logger
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._clients: dict[str, AccountClient] = {}
        self.failures: dict[str, str] = {}
        self.reports: dict[str, AccountReport] = {}
        self._accounts: list[Account] | None = None

    @property
    def accounts(self) -> list[Account]:
        """The configured accounts (parsed once)."""
        if self._accounts is None:
            self._accounts = accounts_from_config(self.config)
        return self._accounts

    def client(self, account: Account) -> AccountClient:
        """The account's client, built on first use."""
        with self._lock:
            client = self._clients.get(account.client_id)
            if client is None:
                client = self._build(account)
                self._clients[account.client_id] = client
            return client

    def _build(self, account: Account) -> AccountClient:
        config = self.config
        timeout = float(config["request_timeout"])
        deadline = config.get("request_deadline") or DEADLINE_TIMEOUTS * timeout
        budget = make_pacer(
            requests_per_minute=account.requests_per_minute,
            client_id=account.client_id,
            shared_budget_url=config.get("shared_budget_url"),
            logger=logging.getLogger(f"tap-mixoads.{account.client_id}"),
        )
        return AccountClient(
            api_url=str(config["api_url"]),
            client_id=account.client_id,
            email=account.email,
            password=account.password,
            budget=budget,
            timeout=timeout,
            deadline=float(deadline),
            max_tries=int(config["max_retries"]),
            max_rate_limit_wait=float(config.get("max_rate_limit_wait") or 300),
            # Every sync worker plus the list calls, so no call queues for a
            # socket.
            pool_maxsize=int(config["sync_concurrency"]) + 2,
            stop=self.stop.is_set,
        )

    def open(self) -> None:
        """Build every account's client now, before any API call.

        A shared budget store that cannot be reached stops the run here, with
        one line naming ``shared_budget_url``, before any account starts.
        """
        for account in self.accounts:
            self.client(account)

    def report(self, account: Account) -> AccountReport:
        """The account's report for this run (created on first use)."""
        with self._lock:
            report = self.reports.get(account.client_id)
            if report is None:
                client = self._clients[account.client_id]
                report = AccountReport(account=account, client=client)
                self.reports[account.client_id] = report
            return report

    def fail(self, account: Account, message: str) -> None:
        """Record that ``account`` failed (the run will exit non-zero)."""
        with self._lock:
            self.failures.setdefault(account.client_id, message)

    def close(self) -> None:
        """Close every client's connections."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
