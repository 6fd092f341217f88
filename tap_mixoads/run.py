"""What one run shares: its accounts' HTTP clients, the stop flag, failures.

Built by the tap from its validated config and handed to the streams
explicitly. Clients are created on first use (never at import time, never for
``--about`` or ``--discover``), one per account, each with its own session,
token and budget.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import logging
import os
import stat
import threading
import time
import typing as t
import uuid
from concurrent.futures import ThreadPoolExecutor

from tap_mixoads import settings
from tap_mixoads.accounts import Account, accounts_from_config, empty_shard_note
from tap_mixoads.errors import AccountFailedError
from tap_mixoads.http.client import AccountClient
from tap_mixoads.http.responses import final_failure
from tap_mixoads.http.shared_budget import make_pacer

#: Token exchanges at once when every account's login is checked.
LOGIN_CHECK_WORKERS = 8
#: Seconds between progress lines (``MIXOADS_PROGRESS_SECONDS`` in the
#: environment may shorten it, for tests and impatient operators).
PROGRESS_SECONDS = 30.0


class SyncLike(t.Protocol):
    """What the report reads from an account's sync (the layer above)."""

    ledger: t.Any
    syncer: t.Any
    mode: str
    stale_dropped: int
    unchanged: int
    removals: list[t.Any]

    def summary(self) -> str:
        """The sync's one-line summary."""
        ...


@dataclasses.dataclass
class AccountReport:
    """What one account's run did: its closing line, progress and run report."""

    account: Account
    client: AccountClient
    run_id: str
    extracted: int = 0
    sync: SyncLike | None = None
    paginator_of: t.Callable[[], t.Any] = lambda: None
    started_at: float = dataclasses.field(default_factory=time.time)
    ended_at: float | None = None
    _started_mono: float = dataclasses.field(default_factory=time.monotonic)
    _ended_mono: float | None = None
    #: How many of the syncer's events are already in ``RunContext.sync_events``.
    events_taken: int = 0

    def finish(self) -> None:
        """Note the account's end (once)."""
        if self.ended_at is None:
            self.ended_at = time.time()
            self._ended_mono = time.monotonic()

    @property
    def wall_seconds(self) -> float:
        """Seconds from the account's start to its end (or now)."""
        end = self._ended_mono if self._ended_mono is not None else time.monotonic()
        return end - self._started_mono

    def summary_line(self) -> str:
        """``100 campaigns, synced 98/100 (...); 203 calls, 0 x 429, 1 retry``."""
        stats = self.client.stats
        line = f"{self.extracted} campaigns"
        if self.sync is not None:
            line += f", {self.sync.summary()}"
        return (
            f"{line}; {stats.total()} calls, {stats.with_status(429)} x 429, "
            f"{stats.retries} retries, {self.client.token.tokens_obtained} tokens"
        )

    def progress_line(self) -> str:
        """``listed 100/100, synced 40/100 (1 failed), about 6 min left ...``."""
        paginator = self.paginator_of()
        listed = getattr(paginator, "received", 0)
        total = getattr(paginator, "max_total", None)
        line = f"listed {listed}/{total if total is not None else '?'}"
        rpm = self.account.requests_per_minute
        remaining_calls = 0
        if paginator is not None and total is not None and listed < total:
            per_page = max(1, getattr(paginator, "page_size", 100))
            remaining_calls += -(-(total - listed) // per_page)
        if self.sync is not None and self.sync.mode != "none":
            syncer = self.sync.syncer
            done = syncer.succeeded + len(syncer.failures)
            target = total if total is not None else listed
            line += f", synced {syncer.succeeded}/{target}"
            if syncer.failures:
                line += f" ({len(syncer.failures)} failed)"
            if not syncer.stopped:
                remaining_calls += max(0, target - done)
        if total is None:
            # Nothing listed yet (the first page keeps failing, say): any
            # estimate would be a guess, and "about 0 s left" a wrong one.
            return f"{line}, time left not known until a page is read"
        minutes = remaining_calls / rpm if rpm else 0.0
        left = f"{minutes:.0f} min" if minutes >= 1 else f"{minutes * 60:.0f} s"
        return f"{line}, about {left} left at {rpm:g} calls/min"

    def as_record(self) -> dict[str, t.Any]:
        """The ``sync_runs`` record (and the JSON of the run-report line)."""
        stats = self.client.stats
        api_calls = stats.total(prefix="GET /api") + stats.total(prefix="POST /api")
        rpm = self.account.requests_per_minute
        floor = api_calls * 60 / rpm if rpm else 0.0
        syncer = self.sync.syncer if self.sync is not None else None
        held = self.sync.ledger.counts() if self.sync is not None else {}
        wall = self.wall_seconds
        return {
            "run_id": self.run_id,
            "client_id": self.account.client_id,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at or time.time()),
            "campaigns": self.extracted,
            "synced": syncer.succeeded if syncer else 0,
            "failed": len(syncer.failures) if syncer else 0,
            "deferred": syncer.deferred if syncer else 0,
            "dead": held.get("dead", 0),
            "stale_dropped": self.sync.stale_dropped if self.sync is not None else 0,
            "unchanged": self.sync.unchanged if self.sync is not None else 0,
            "removed": len(self.sync.removals) if self.sync is not None else 0,
            "calls": stats.by_endpoint(),
            "api_calls": api_calls,
            "rate_limited": stats.with_status(429),
            "retries": stats.retries,
            "tokens_issued": self.client.token.tokens_obtained,
            "floor_seconds": round(floor, 3),
            "wall_seconds": round(wall, 3),
            "floor_ratio": round(wall / floor, 3) if floor else None,
        }


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc).isoformat()


class ProgressReporter:
    """A progress line per account at least every ``PROGRESS_SECONDS``.

    A run at the vendor's pace takes about 10 minutes per 100 campaigns; a
    line every 30 s says it is alive and how long is left.
    """

    def __init__(
        self,
        run: RunContext,
        logger: logging.Logger,
        *,
        every: float | None = None,
    ) -> None:
        self.run = run
        self.logger = logger
        from_env = os.environ.get("MIXOADS_PROGRESS_SECONDS")
        self.every = every or float(from_env or PROGRESS_SECONDS)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="mixoads-progress", daemon=True
        )

    def start(self) -> None:
        """Start reporting."""
        self._thread.start()

    def stop(self) -> None:
        """Stop reporting (the closing lines follow)."""
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            for report in list(self.run.reports.values()):
                if report.ended_at is None:
                    self.logger.info(
                        "campaigns %s: %s",
                        report.account.label.strip(),  # with the shard, if set
                        report.progress_line(),
                    )


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
        self.run_id = uuid.uuid4().hex
        self.sync_events: list[dict[str, t.Any]] = []
        self.run_reports: list[dict[str, t.Any]] = []
        self._accounts: list[Account] | None = None
        #: The tap's streams (their ``name`` and ``selected``), in sync order.
        self.streams: list[t.Any] = []
        self._streams_done: set[str] = set()
        #: True once every selected stream has emitted its last record.
        self.records_complete = False

    @property
    def accounts(self) -> list[Account]:
        """The configured accounts (parsed once)."""
        if self._accounts is None:
            self._accounts = accounts_from_config(self.config)
            note = empty_shard_note(self.config)
            if note:
                self.logger.warning("%s", note)
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
        deadline = settings.request_deadline(config)
        max_rate_limit_wait = float(config.get("max_rate_limit_wait") or 300)
        budget = make_pacer(
            requests_per_minute=account.requests_per_minute,
            client_id=account.client_id,
            shared_budget_url=config.get("shared_budget_url"),
            logger=logging.getLogger(f"tap-mixoads.{account.client_id}"),
            # A turn further away than a 429 worth waiting for stops the
            # account like that 429 (only a turn stored in the future can be).
            max_rate_limit_wait=max_rate_limit_wait,
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
            max_rate_limit_wait=max_rate_limit_wait,
            # Every sync worker plus the list calls, so no call queues for a
            # socket.
            pool_maxsize=int(config["sync_concurrency"]) + 2,
            max_response_bytes=int(config["max_response_bytes"]),
            # Name the account in every retry, token and failure line when a
            # line could belong to another account (or shard).
            label=(
                account.label
                if len(self.accounts) > 1 or account.shard is not None
                else ""
            ),
            stop=self.stop.is_set,
        )

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

        def login(account: Account) -> None:
            client = self.client(account)
            try:
                client.retry.decorate(client.token.bearer)()
            except Exception as exc:  # every failure is a line, not a traceback
                refused[account.client_id] = final_failure(exc)

        workers = max(1, min(LOGIN_CHECK_WORKERS, len(accounts)))
        with ThreadPoolExecutor(workers, thread_name_prefix="mixoads-login") as pool:
            list(pool.map(login, accounts))
        if not refused:
            self.logger.info("All %d accounts logged in", len(accounts))
            return
        if not self.config.get("accounts"):
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
        """Close every client's connections."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
