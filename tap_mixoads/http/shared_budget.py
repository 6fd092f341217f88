"""One budget per client id, shared by every process that uses it.

Several taps (or several accounts of one tap) can run under the same client id,
on one machine or many. Each process pacing itself would let N processes send
N times the budget, so with the setting ``shared_budget_url`` the turns are
taken from a pyrate-limiter bucket kept in a store they all reach:

* ``postgresql://user:password@host:5432/db`` (or ``postgres://``): one table
  per client id in that database; any number of machines;
* ``sqlite:///path/to/budget.db``: one file on a local disk, guarded by a file
  lock; processes of one machine only.

The pacing itself (interval, safety margin, departure guard, slowdown after a
429) stays in :class:`~tap_mixoads.http.budget.RequestPacer`; only where the
turns are kept changes.

Pitfalls of pyrate-limiter (>= 4.5, whose Postgres bucket checks and inserts
under a table lock, atomically across processes; 3.x's did not) handled here:

* Its Postgres bucket counts every row of its table, whatever the item name,
  so each client id gets its own table. Postgres folds identifiers to lower
  case and cuts them at 63 bytes, and client ids differ in case and can be
  long, so the table name is a hash of the client id (:func:`table_name`).
* It stores turns as ``TIMESTAMP`` (without time zone) converted in the
  session's time zone. Two processes whose sessions differ (``PGTZ``, a
  server or role default) store the same instant hours apart, and then one
  ignores the other's turns while the other waits for hours. Every session is
  pinned to UTC when the connection opens.
* Its connection pool would hold four connections per process by default;
  turns are short and serialised anyway, so one connection per process and
  store is enough, shared by every client id of the process.
* Its SQLite bucket is only atomic across processes with its file lock; the
  lock is always used here, and the directory must exist (``filelock``
  would create it, hiding a typo).
* Its blocking acquire sleeps the computed wait and then retries with the
  item's timestamp advanced by that wait, not the clock's time: a process
  that wakes late would record its turn earlier than it was taken, letting
  another process's next turn follow too closely. Each put here re-reads the
  clock.

If the store cannot be reached the tap stops before any API call with one
line naming the setting (never the password); it never falls back to a budget
of its own, which would silently multiply the client id's rate.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import sqlite3
import threading
import typing as t
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from pyrate_limiter import AbstractBucket, Rate, RateItem
from typing_extensions import override

from tap_mixoads.errors import ConfigError, MixoAdsError
from tap_mixoads.http.budget import RequestPacer, pacing_interval_ms

SETTING = "shared_budget_url"
#: Table names: this prefix plus a hash of the client id. pyrate-limiter
#: derives ``timestampindex_<name>`` from it, so ``<name>`` must stay within
#: 63 - 15 = 48 characters: 8 + 32 here (128 bits of sha256).
TABLE_PREFIX = "mixoads_"
TABLE_HASH_CHARS = 32
#: How long opening the store may take before the tap gives up (seconds).
CONNECT_TIMEOUT_S = 10
#: How long one turn may wait for this process's connection (seconds): the
#: connection is only held for a few milliseconds per turn.
POOL_TIMEOUT_S = 30.0
#: Shown in ``pg_stat_activity`` unless the URL names an application itself.
APPLICATION_NAME = "tap-mixoads shared budget"
_SECRET_PARAMS = frozenset({"password", "sslpassword", "passfile"})

_log = logging.getLogger("tap-mixoads.shared_budget")


class SharedBudgetError(MixoAdsError):
    """The shared budget's store failed during the run.

    The tap stops rather than carry on alone: without the store it cannot
    know what the other processes of the client id are sending.
    """


def redact_url(url: str) -> str:
    """Return ``url`` without any password, for messages and logs.

    The password goes from the user info and from password-like query
    parameters; the rest (user, host, port, database, path) stays, because
    that is what a user needs to find the store that failed.

    Returns:
        The URL without secrets, or a placeholder if it cannot be parsed.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<unparseable URL>"
    if not parts.scheme:
        # Not a URL (perhaps a "key=value" DSN): blank out anything password-like.
        return re.sub(r"(?i)(password\s*=\s*)('[^']*'|\S+)", r"\1***", url)
    netloc = ""
    if parts.hostname is not None or parts.username is not None:
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        user = f"{parts.username}@" if parts.username else ""
        netloc = f"{user}{host}" + (f":{port}" if port is not None else "")
    query = urlencode(
        [
            (key, value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
            if key.lower() not in _SECRET_PARAMS
        ]
    )
    if netloc or url[len(parts.scheme) :].startswith("://"):
        # urlunsplit would drop the empty authority of "sqlite:///path".
        return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
    return urlunsplit((parts.scheme, "", parts.path, query, ""))


def table_name(client_id: str) -> str:
    """Return the store's table name for ``client_id``.

    A hash rather than the id itself: ids differ in case (Postgres and SQLite
    fold unquoted names), may be longer than Postgres's 63-byte limit, and may
    hold characters no table name should.

    Returns:
        ``mixoads_`` and 32 lowercase hex digits.
    """
    digest = hashlib.sha256(client_id.encode("utf-8")).hexdigest()
    return TABLE_PREFIX + digest[:TABLE_HASH_CHARS]


def _fail(url: str, what: str, err: BaseException | str) -> ConfigError:
    """Build the one-line, password-free error for a store that cannot be used."""
    reason = _reason(err)
    for secret in _secrets(url):
        reason = reason.replace(secret, "***")
    return ConfigError(f"setting '{SETTING}': {what} {redact_url(url)} ({reason})")


def _secrets(url: str) -> list[str]:
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        found = [unquote(parts.password)] if parts.password else []
        found += [
            value
            for key, value in parse_qsl(parts.query)
            if key.lower() in _SECRET_PARAMS and value
        ]
        return found
    return []


def _reason(err: BaseException | str) -> str:
    """Shorten a driver error to its cause, e.g. ``connection refused``."""
    text = str(err).strip() or type(err).__name__
    line = text.splitlines()[0].strip()
    line = line.rsplit(" failed: ", 1)[-1]
    line = re.sub(r"^(?:FATAL|ERROR):\s*", "", line).strip()
    if len(line) > 1 and line[1].islower():
        line = line[0].lower() + line[1:]
    return line


class SharedBudgetStore:
    """A store of budgets, opened once per process and URL.

    Every bucket taken from a store shares its one connection; the store
    closes when its last bucket is closed (see :func:`open_store`).
    """

    def __init__(self, *, url: str) -> None:
        self.url = redact_url(url)
        self._raw_url = url
        self._refs = 0
        self._lock = threading.Lock()
        self.closed = False

    def bucket(self, *, client_id: str, interval_ms: int) -> AbstractBucket:
        """Return a bucket giving one turn per ``interval_ms`` to ``client_id``.

        The bucket holds a reference to this store until it is closed.

        Raises:
            ConfigError: if the table cannot be created.
        """
        rates = [Rate(1, interval_ms)]
        try:
            inner = self._make_bucket(table_name(client_id), rates)
        except (OSError, sqlite3.Error, ImportError) as err:
            raise _fail(self._raw_url, "cannot create a budget table in", err) from err
        except Exception as err:
            if _is_psycopg_error(err):
                raise _fail(
                    self._raw_url, "cannot create a budget table in", err
                ) from err
            raise
        self.acquire_ref()
        return _SharedBucket(inner=inner, store=self)

    def acquire_ref(self) -> None:
        """Count one more user of this store."""
        with self._lock:
            self._refs += 1

    def release(self) -> None:
        """Drop one user; the last one closes the connection."""
        with self._lock:
            self._refs -= 1
            last = self._refs <= 0 and not self.closed
            if last:
                self.closed = True
        if last:
            _forget(self)
            self._close()

    def _make_bucket(self, table: str, rates: list[Rate]) -> AbstractBucket:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> SharedBudgetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _is_psycopg_error(err: BaseException) -> bool:
    return type(err).__module__.startswith(("psycopg", "psycopg_pool"))


class _PostgresStore(SharedBudgetStore):
    """One connection (a psycopg pool of size 1) to a PostgreSQL database."""

    def __init__(self, *, url: str) -> None:
        super().__init__(url=url)
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as err:
            raise _fail(
                url, "needs psycopg[binary,pool] installed to use", "not installed"
            ) from err
        kwargs: dict[str, t.Any] = {
            "connect_timeout": CONNECT_TIMEOUT_S,
            "fallback_application_name": APPLICATION_NAME,
        }
        # A direct connection first: it fails at once on a refused port, with
        # the driver's reason, where the pool would retry until its timeout.
        try:
            with psycopg.connect(url, **kwargs) as probe:
                _pin_utc(probe)
        except psycopg.Error as err:
            raise _fail(url, "cannot reach", err) from err
        pool: ConnectionPool[t.Any] = ConnectionPool(
            url,
            kwargs=kwargs,
            min_size=1,
            max_size=1,
            open=False,
            configure=_pin_utc,
            name="mixoads-shared-budget",
            timeout=POOL_TIMEOUT_S,
            num_workers=1,
        )
        try:
            pool.open(wait=True, timeout=CONNECT_TIMEOUT_S + 5)
        except psycopg.Error as err:
            pool.close()
            raise _fail(url, "cannot reach", err) from err
        self.pool = pool

    @override
    def _make_bucket(self, table: str, rates: list[Rate]) -> AbstractBucket:
        from pyrate_limiter import PostgresBucket

        return PostgresBucket(self.pool, table, rates)

    @override
    def _close(self) -> None:
        self.pool.close()


def _pin_utc(conn: t.Any) -> None:
    """Pin the session to UTC (pyrate-limiter stores timestamps without zone).

    Runs on every new connection, so it also holds after a reconnect; it
    overrides ``PGTZ`` and any server or role default.
    """
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()


class _SQLiteStore(SharedBudgetStore):
    """One SQLite file and its file lock, shared by this machine's processes."""

    def __init__(self, *, url: str, path: Path) -> None:
        super().__init__(url=url)
        if not path.parent.is_dir():
            raise _fail(url, "cannot open", f"no directory {path.parent}")
        try:
            from filelock import FileLock
        except ImportError as err:
            raise _fail(
                url, "needs filelock installed to use", "not installed"
            ) from err
        self.path = path
        # One lock object per store: filelock keeps a descriptor per thread,
        # so the threads of this process exclude each other as processes do.
        self.lock = FileLock(f"{path}.lock")
        try:
            with self.lock:
                conn = sqlite3.connect(
                    path, isolation_level="DEFERRED", check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.commit()
        except (OSError, sqlite3.Error) as err:
            raise _fail(url, "cannot open", err) from err
        self.conn = conn

    @override
    def _make_bucket(self, table: str, rates: list[Rate]) -> AbstractBucket:
        from pyrate_limiter import SQLiteBucket
        from pyrate_limiter.buckets.sqlite_bucket import Queries

        with self.lock:
            self.conn.execute(Queries.CREATE_BUCKET_TABLE.format(table=table))
            self.conn.execute(
                Queries.CREATE_INDEX_ON_TIMESTAMP.format(
                    index_name=f"idx_{table}_rate_item_timestamp", table_name=table
                )
            )
            self.conn.commit()
        # Passing the lock is what makes the bucket take it around every
        # check-and-insert (and the Limiter around every turn).
        return SQLiteBucket(rates, self.conn, table, lock=self.lock)

    @override
    def _close(self) -> None:
        with self.lock:
            self.conn.close()


class _SharedBucket(AbstractBucket):
    """A store's bucket as one client id's pacer sees it.

    It re-reads the clock at each put (see the module docstring), turns store
    failures into one-line errors, keeps the background leak from dying on a
    hiccup, and on close releases the store instead of closing the connection
    that other client ids of this process share.
    """

    is_async = False

    def __init__(self, *, inner: AbstractBucket, store: SharedBudgetStore) -> None:
        self._inner = inner
        self._store = store
        self.rates = inner.rates
        self._closed = False

    @override
    def now(self) -> int:
        """The store's clock (the database's for Postgres): the same for all."""
        inner: t.Any = self._inner  # AbstractBucket.now() is untyped
        return int(inner.now())

    @override
    def limiter_lock(self) -> object | None:
        """The store's cross-process lock (SQLite), for the Limiter to take."""
        return self._inner.limiter_lock()

    @override
    def put(self, item: RateItem) -> bool:
        """Take a turn now if the window has none, timestamped by the clock now."""
        lock = self._inner.limiter_lock()
        try:
            with t.cast("t.ContextManager[object]", lock or contextlib.nullcontext()):
                item.timestamp = self.now()
                admitted = bool(self._inner.put(item))
        except Exception as err:
            if isinstance(err, sqlite3.Error | OSError) or _is_psycopg_error(err):
                raise SharedBudgetError(
                    f"setting '{SETTING}': the shared budget at {self._store.url}"
                    f" failed ({_reason(err)})"
                ) from err
            raise
        self.failing_rate = self._inner.failing_rate
        return admitted

    @override
    def waiting(self, item: RateItem) -> int:
        """How long until the next turn (from the last put's verdict)."""
        return int(t.cast("int", self._inner.waiting(item)))

    @override
    def leak(self, current_timestamp: int | None = None) -> int:
        """Delete turns older than the window, so tables stay small.

        pyrate-limiter calls this every 10 s from a daemon thread, which an
        exception would kill (and the table would then grow); a failure is
        logged and retried at the next round instead.
        """
        if self._closed:
            return 0
        try:
            return int(t.cast("int", self._inner.leak(current_timestamp)))
        except Exception as err:  # keep the leak thread alive
            _log.warning(
                "Cannot trim the shared budget at %s: %s", self._store.url, _reason(err)
            )
            return 0

    @override
    def flush(self) -> None:
        """Forget every turn (tests only)."""
        self._inner.flush()

    @override
    def count(self) -> int:
        """How many turns the store holds for this client id."""
        return int(t.cast("int", self._inner.count()))

    @override
    def peek(self, index: int) -> RateItem | None:
        """The ``index``-th newest turn."""
        return t.cast("RateItem | None", self._inner.peek(index))

    @override
    def close(self) -> None:
        """Release the store; the last bucket of a process closes it."""
        if not self._closed:
            self._closed = True
            self._store.release()


_stores: dict[tuple[str, int], SharedBudgetStore] = {}
_stores_lock = threading.Lock()


def _forget(store: SharedBudgetStore) -> None:
    with _stores_lock:
        for key, value in list(_stores.items()):
            if value is store:
                del _stores[key]


def open_store(url: str) -> SharedBudgetStore:
    """Open the store at ``url``, or reuse this process's open one.

    So that all client ids of a process share one connection per store. The
    caller holds a reference: call :meth:`SharedBudgetStore.release` (or use
    it as a context manager) when done; buckets hold their own.

    Raises:
        ConfigError: the URL is not supported or the store cannot be reached.
    """
    key = (url, os.getpid())  # a forked child must not share its parent's socket
    with _stores_lock:
        store = _stores.get(key)
        if store is None or store.closed:
            store = _connect(url)
            _stores[key] = store
        store.acquire_ref()
        return store


def _connect(url: str) -> SharedBudgetStore:
    try:
        parts = urlsplit(url)
    except ValueError as err:
        raise _fail(url, "cannot parse", err) from err
    scheme = parts.scheme.lower()
    if scheme in {"postgresql", "postgres"}:
        return _PostgresStore(url=url)
    if scheme == "sqlite":
        if parts.netloc not in {"", "localhost"} or not parts.path:
            raise _fail(url, "cannot use", "expected sqlite:///path/to/file.db")
        return _SQLiteStore(url=url, path=Path(unquote(parts.path)))
    raise _fail(url, "cannot use", "expected a postgresql:// or sqlite:/// URL")


def make_pacer(
    *,
    requests_per_minute: float,
    client_id: str,
    shared_budget_url: str | None,
    logger: logging.Logger,
) -> RequestPacer:
    """Return the pacer for ``client_id``: this process's own, or a shared one.

    Call it before any API call: a store that cannot be reached stops the tap
    here, with a :class:`ConfigError` naming the setting.

    Args:
        requests_per_minute: the client id's budget.
        client_id: the ``X-Client-ID`` whose calls share the budget.
        shared_budget_url: where the budget is kept; None or blank for this
            process alone.
        logger: where the pacer reports itself.

    Returns:
        A pacer; close it to release the store.
    """
    if shared_budget_url is None or not shared_budget_url.strip():
        return RequestPacer(requests_per_minute, name=client_id, logger=logger)
    interval_ms = pacing_interval_ms(requests_per_minute)
    with open_store(shared_budget_url.strip()) as store:
        bucket = store.bucket(client_id=client_id, interval_ms=interval_ms)
    logger.info(
        "Budget of %s calls/min shared through %s (table %s)",
        f"{requests_per_minute:g}",
        store.url,
        table_name(client_id),
    )
    return RequestPacer(
        requests_per_minute, name=client_id, bucket=bucket, logger=logger
    )


__all__ = [
    "SharedBudgetError",
    "SharedBudgetStore",
    "make_pacer",
    "open_store",
    "redact_url",
    "table_name",
]
