"""What one run shares: its event loop, its accounts' clients, the stop flag, failures.

Built by the tap from its settings and handed to the streams
explicitly. Clients are created on first use (never at import time, never for
``--about`` or ``--discover``), one per account, each with its own token and
budget; all send through the run's one :class:`~tap_mixoads.http.wire.Wire`
on the run's :class:`~tap_mixoads.engine.loop.EngineLoop`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import stat
import threading
import typing as t
import uuid

from tap_mixoads.config.accounts import Account
from tap_mixoads.config.mode import RunMode
from tap_mixoads.config.settings import Settings
from tap_mixoads.engine.loop import EngineLoop
from tap_mixoads.engine.report import AccountReport
from tap_mixoads.errors import AccountFailedError
from tap_mixoads.http.client import AccountClient
from tap_mixoads.http.responses import final_failure
from tap_mixoads.http.shared_budget import make_pacer
from tap_mixoads.http.wire import Wire

#: Token exchanges at once when every account's login is checked.
LOGIN_CHECK_WORKERS = 8


class RunContext:
    """The run's accounts and their clients, and how the run is going.

    Args:
        settings: the run's settings, parsed once.
        logger: the tap's logger.
    """

    def __init__(self, settings: Settings, logger: logging.Logger) -> None:
        self.settings = settings
        self.logger = logger
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._clients: dict[str, AccountClient] = {}
        #: The loop every account's calls run on (started on first use).
        self.engine = EngineLoop()
        self._wire: Wire | None = None
        self.failures: dict[str, str] = {}
        self.reports: dict[str, AccountReport] = {}
        self.run_id = uuid.uuid4().hex
        self.sync_events: list[dict[str, t.Any]] = []
        self.run_reports: list[dict[str, t.Any]] = []
        self._accounts: list[Account] | None = None
        #: The tap's streams (their ``name`` and ``selected``), in sync order.
        self.streams: list[t.Any] = []
        self._streams_done: set[str] = set()
        #: True once every selected stream has emitted its last record.
        self.records_complete = False
        self._mode: RunMode | None = None
        #: Records per stream before a connection test stops (else None).
        self.record_limit: int | None = None

    def begin(self, *, record_limit: int | None) -> RunMode:
        """Decide the run's mode, once: the first stream to read calls this.

        Args:
            record_limit: the SDK's ``ABORT_AT_RECORD_COUNT`` (set for a
                connection test only).
        """
        if self._mode is None:
            schema_only = self.settings.schema_only
            self.record_limit = record_limit
            self._mode = RunMode.decide(
                schema_only=schema_only,
                test=record_limit is not None,
                # A schema_only run reads nothing: no probe to detect.
                probe=not schema_only and self.probe,
            )
        return self._mode

    @property
    def mode(self) -> RunMode:
        """The run's mode (see :meth:`begin`)."""
        if self._mode is None:
            msg = "the run's mode is read before it was decided"
            raise RuntimeError(msg)
        return self._mode

    @property
    def accounts(self) -> list[Account]:
        """The configured accounts (parsed once)."""
        if self._accounts is None:
            self._accounts = list(self.settings.accounts)
            if self.settings.shard_note:
                self.logger.warning("%s", self.settings.shard_note)
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
        settings = self.settings
        max_rate_limit_wait = settings.max_rate_limit_wait
        budget = make_pacer(
            requests_per_minute=account.requests_per_minute,
            client_id=account.client_id,
            shared_budget_url=settings.shared_budget_url,
            logger=logging.getLogger(f"tap-mixoads.{account.client_id}"),
            # A turn further away than a 429 worth waiting for stops the
            # account like that 429 (only a turn stored in the future can be).
            max_rate_limit_wait=max_rate_limit_wait,
        )
        return AccountClient(
            api_url=settings.api_url,
            client_id=account.client_id,
            email=account.email,
            password=account.password,
            budget=budget,
            wire=self.wire,
            timeout=settings.request_timeout,
            deadline=settings.request_deadline,
            max_tries=settings.max_retries,
            max_rate_limit_wait=max_rate_limit_wait,
            # Name the account in every retry, token and failure line when a
            # line could belong to another account (or shard).
            label=(
                account.label
                if len(self.accounts) > 1 or account.shard is not None
                else ""
            ),
            stop=self.stop.is_set,
        )

    @property
    def wire(self) -> Wire:
        """The run's connections (proxies read from the environment once)."""
        if self._wire is None:
            self._wire = Wire.for_api(
                self.settings.api_url,
                max_response_bytes=self.settings.max_response_bytes,
            )
        return self._wire

    @functools.cached_property
    def probe(self) -> bool:
        """Whether this run is a probe, not a pipeline: no sync call then.

        ``meltano config test`` runs the tap with stderr joined to stdout on
        one pipe and stops it at the first RECORD. No target can read such a
        stream (log lines break the Singer messages), so a tap whose stdout
        and stderr are the same pipe is being probed, and calling the sync
        endpoint would be a side effect nobody asked for. (A terminal, where
        both are one tty, is not a pipe and still syncs.)
        """
        try:
            out, err = os.fstat(1), os.fstat(2)
        except OSError:
            return False
        same = (out.st_dev, out.st_ino) == (err.st_dev, err.st_ino)
        if same and stat.S_ISFIFO(out.st_mode):
            self.logger.warning(
                "stdout and stderr are one pipe (a probe such as meltano config "
                "test, not a pipeline): no sync call in this run"
            )
            return True
        return False

    def open(self) -> None:
        """Build every account's client now, before any API call.

        A shared budget store that cannot be reached stops the run here, with
        one line naming ``shared_budget_url``, before any account starts.
        """
        for account in self.accounts:
            self.client(account)

    def stream_records_done(self, name: str) -> None:
        """Note that stream ``name`` emitted its last record of the run."""
        self._streams_done.add(name)
        selected = {stream.name for stream in self.streams if stream.selected}
        if selected <= self._streams_done:
            self.records_complete = True

    def check_logins(self) -> None:
        """Trade every account's credentials for a token; fail naming the refused.

        A connection test (``--test``) or a probe (``meltano config test``)
        stops at the first record, which only the first account would have
        produced: with 2 of 4 passwords wrong it still said "valid". This asks
        each account's token endpoint once (with the call's retry policy,
        nothing else: no list call, no sync call), a few accounts at a time.

        Raises:
            AccountFailedError: one line naming each account that cannot log
                in, and why.
        """
        self.open()
        accounts = self.accounts
        refused: dict[str, str] = {}

        async def login(account: Account, turns: asyncio.Semaphore) -> None:
            async with turns:
                try:
                    await self.client(account).login()
                except Exception as exc:  # every failure is a line, not a traceback
                    refused[account.client_id] = final_failure(exc)

        async def everyone() -> None:
            turns = asyncio.Semaphore(LOGIN_CHECK_WORKERS)
            await asyncio.gather(*(login(account, turns) for account in accounts))

        self.engine.run(everyone())
        if not refused:
            self.logger.info("All %d accounts logged in", len(accounts))
            return
        if not self.settings.several_accounts:
            raise AccountFailedError(next(iter(refused.values())))
        named = "; ".join(
            f"account '{client_id}': {why}"
            for client_id, why in sorted(refused.items())
        )
        msg = f"{len(refused)} of {len(accounts)} accounts cannot log in: {named}"
        raise AccountFailedError(msg)

    def report(self, account: Account) -> AccountReport:
        """The account's report for this run (created on first use)."""
        with self._lock:
            report = self.reports.get(account.client_id)
            if report is None:
                client = self._clients[account.client_id]
                report = AccountReport(
                    account=account, client=client, run_id=self.run_id
                )
                self.reports[account.client_id] = report
            return report

    def all_reports(self) -> list[AccountReport]:
        """The reports of the accounts started so far."""
        with self._lock:
            return list(self.reports.values())

    def fail(self, account: Account, message: str) -> None:
        """Record that ``account`` failed (the run will exit non-zero)."""
        with self._lock:
            self.failures.setdefault(account.client_id, message)

    def close(self) -> None:
        """Close the connections, every client's budget, and the loop."""
        wire, self._wire = self._wire, None
        self.engine.close(wire.close() if wire is not None else None)
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
