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

A store that fails or stops answering during the run fails it too, within
:data:`STORE_TIMEOUT_S`: every operation on the store (waiting for this
process's connection included) has that long, after which the store is
given up for the rest of the run (each client id of the process stops at its
next turn, with the same line). A refused connection fails at once. A server
that stops answering without closing anything (frozen, or a network that
drops packets) is only noticed by a client-side bound: a watchdog shuts the
connection's socket down at the deadline, since the kernel keeps
acknowledging what a frozen server never reads (so neither TCP keepalives
nor a server-side ``statement_timeout`` would end the wait). pyrate-limiter's
Postgres clock falls back to the local clock after a pool timeout, logging a
traceback; the clock is read here instead, through the same bounded path.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import socket
import sqlite3
import threading
import time
import typing as t
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from pyrate_limiter import AbstractBucket, Rate, RateItem
from typing_extensions import override

from tap_mixoads.errors import BudgetStoreError, ConfigError
from tap_mixoads.http.budget import RequestPacer, pacing_interval_ms

if t.TYPE_CHECKING:
    from collections.abc import Iterator

SETTING = "shared_budget_url"
#: Table names: this prefix plus a hash of the client id. pyrate-limiter
#: derives ``timestampindex_<name>`` from it, so ``<name>`` must stay within
#: 63 - 15 = 48 characters: 8 + 32 here (128 bits of sha256).
TABLE_PREFIX = "mixoads_"
TABLE_HASH_CHARS = 32
#: How long opening the store may take before the tap gives up (seconds).
CONNECT_TIMEOUT_S = 10
#: How long one operation on the store may take, waiting for this process's
#: connection included, before the store counts as failed (seconds). A turn
#: holds the connection for a few milliseconds. ``MIXOADS_STORE_TIMEOUT_SECONDS``
#: in the environment may shorten it (tests).
STORE_TIMEOUT_S = 30.0
STORE_TIMEOUT_ENV = "MIXOADS_STORE_TIMEOUT_SECONDS"
#: How pyrate-limiter's Postgres clock reads the time (the database's clock).
_CLOCK_QUERY = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint"
#: Shown in ``pg_stat_activity`` unless the URL names an application itself.
APPLICATION_NAME = "tap-mixoads shared budget"
_SECRET_PARAMS = frozenset({"password", "sslpassword", "passfile"})

_log = logging.getLogger("tap-mixoads.shared_budget")


class SharedBudgetError(BudgetStoreError):
    """The shared budget's store failed during the run.

    The tap stops rather than carry on alone: without the store it cannot
    know what the other processes of the client id are sending.
    """


def store_timeout_s() -> float:
    """:data:`STORE_TIMEOUT_S`, or the environment's shorter value."""
    with contextlib.suppress(KeyError, ValueError):
        value = float(os.environ[STORE_TIMEOUT_ENV])
        if 0 < value < STORE_TIMEOUT_S:
            return value
    return STORE_TIMEOUT_S


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
        self.timeout_s = store_timeout_s()
        #: Why the store was given up, once it failed during the run.
        self.failed: str | None = None

    def check(self) -> None:
        """Raise the store's failure, once it has failed.

        Raises:
            SharedBudgetError: the store failed earlier in the run.
        """
        if self.failed is not None:
            raise SharedBudgetError(self.failed)

    def failure(self, err: BaseException | str) -> SharedBudgetError:
        """Give the store up for the rest of the run; the error to raise.

        The first failure's line is kept: later callers fail with it at once
        rather than each waiting out the bound again.
        """
        with self._lock:
            first = self.failed is None
            if first:
                reason = _reason(err)
                for secret in _secrets(self._raw_url):
                    reason = reason.replace(secret, "***")
                self.failed = (
                    f"setting '{SETTING}': the shared budget at {self.url} failed "
                    f"({reason})"
                )
            message = t.cast("str", self.failed)
        if first:
            self._abandon()
        return SharedBudgetError(message)

    def now(self, inner: AbstractBucket) -> int:
        """The store's clock, as ``inner`` reads it."""
        clock: t.Any = inner  # AbstractBucket.now() is untyped
        return int(clock.now())

    def bounded_lock(self, inner: AbstractBucket) -> object | None:
        """The cross-process lock the Limiter takes around a turn, if any."""
        return inner.limiter_lock()

    def _abandon(self) -> None:
        """Wake whoever waits for the store (it has failed)."""

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


def _is_store_error(err: BaseException) -> bool:
    return isinstance(err, sqlite3.Error | OSError) or _is_psycopg_error(err)


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
            timeout=self.timeout_s,
            num_workers=1,
        )
        try:
            pool.open(wait=True, timeout=CONNECT_TIMEOUT_S + 5)
        except psycopg.Error as err:
            pool.close()
            raise _fail(url, "cannot reach", err) from err
        self.pool = pool
        self.watchdog = _Watchdog()
        self.bounded = _BoundedPool(self)

    @override
    def _make_bucket(self, table: str, rates: list[Rate]) -> AbstractBucket:
        from pyrate_limiter import PostgresBucket

        return PostgresBucket(t.cast("t.Any", self.bounded), table, rates)

    @override
    def now(self, inner: AbstractBucket) -> int:
        """The database's clock, read within the bound (never the local one)."""
        with self.bounded.connection() as conn:
            row = conn.execute(_CLOCK_QUERY).fetchone()
        return int(row[0])

    @override
    def _abandon(self) -> None:
        # Closing the pool wakes every thread waiting for its connection
        # (PoolClosed); in the background, as it joins the pool's worker.
        threading.Thread(
            target=self.pool.close,
            kwargs={"timeout": self.timeout_s},
            name="mixoads-budget-close",
            daemon=True,
        ).start()

    @override
    def _close(self) -> None:
        self.watchdog.close()
        self.pool.close(timeout=0 if self.failed else 5.0)


class _Guard:
    """One armed operation: its connection, deadline, and whether it fired."""

    def __init__(self, conn: t.Any, deadline: float) -> None:
        self.conn = conn
        self.deadline = deadline
        self.fired = False


class _Watchdog:
    """Shuts a connection's socket down when its operation outlasts its deadline.

    psycopg's blocking calls wait on the socket with no timeout of their
    own; a socket shut down is readable at once, so the call fails with a
    closed connection (which the pool then discards). One thread per store,
    started with the first operation.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: list[_Guard] = []
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextlib.contextmanager
    def guard(self, conn: t.Any, deadline: float) -> Iterator[_Guard]:
        """Arm the watchdog for ``conn`` until ``deadline`` while in the block."""
        guard = _Guard(conn, deadline)
        with self._cond:
            self._armed.append(guard)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="mixoads-budget-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        try:
            yield guard
        finally:
            with self._cond:
                if guard in self._armed:
                    self._armed.remove(guard)

    def close(self) -> None:
        """Stop the watchdog's thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                for guard in [g for g in self._armed if g.deadline <= now]:
                    self._armed.remove(guard)
                    guard.fired = True
                    _shut_down(guard.conn)
                deadline = min((g.deadline for g in self._armed), default=None)
                self._cond.wait(None if deadline is None else deadline - now)


def _shut_down(conn: t.Any) -> None:
    """Shut the connection's socket down (the descriptor stays psycopg's)."""
    with contextlib.suppress(Exception):
        duplicate = os.dup(conn.pgconn.socket)
        with socket.socket(fileno=duplicate) as sock:
            sock.shutdown(socket.SHUT_RDWR)


class _BoundedPool:
    """The pool as pyrate-limiter's Postgres bucket sees it: every use bounded.

    ``connection()`` is all the bucket asks of a pool. Waiting for the
    connection, using it and ending its transaction share one deadline,
    :data:`STORE_TIMEOUT_S` from the start; a failure to connect or to
    answer gives the store up.
    """

    def __init__(self, store: _PostgresStore) -> None:
        self._store = store

    @contextlib.contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[t.Any]:
        """This process's connection, within the store's bound.

        Raises:
            SharedBudgetError: the store failed, now or earlier in the run.
        """
        import psycopg
        from psycopg_pool import PoolTimeout

        store = self._store
        store.check()
        bound = store.timeout_s
        deadline = time.monotonic() + bound
        guard: _Guard | None = None
        try:
            with (
                store.pool.connection(timeout=bound) as conn,
                store.watchdog.guard(conn, deadline) as guard,
            ):
                # The transaction ends here, under the guard: the pool would
                # commit after it, a round trip a frozen server never answers.
                try:
                    yield conn
                except BaseException:
                    with contextlib.suppress(Exception):
                        conn.rollback()
                    raise
                conn.commit()
        except PoolTimeout as err:
            raise store.failure(f"no connection within {bound:g} s") from err
        except psycopg.OperationalError as err:
            if guard is not None and guard.fired:
                raise store.failure(f"no answer within {bound:g} s") from err
            raise store.failure(err) from err


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
        # Its timeout bounds a wait for another process holding it (frozen).
        self.lock = FileLock(f"{path}.lock", timeout=self.timeout_s)
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
    def bounded_lock(self, inner: AbstractBucket) -> object | None:
        """The file lock, its timeout turned into the store's failure.

        pyrate-limiter reads a lock's ``TimeoutError`` as "no turn" and the
        pacer would ask again for ever; this raises the store's error.
        """
        return _BoundedFileLock(self)

    @override
    def _close(self) -> None:
        with contextlib.suppress(OSError):
            # Not another wait for a lock that already timed out.
            self.lock.acquire(timeout=0 if self.failed else self.timeout_s)
            try:
                self.conn.close()
            finally:
                self.lock.release()


class _BoundedFileLock:
    """The SQLite store's file lock, failing the store when it times out."""

    def __init__(self, store: _SQLiteStore) -> None:
        self._store = store

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock within the store's bound.

        Raises:
            SharedBudgetError: another process held it past the bound.
        """
        self._store.check()
        try:
            self._store.lock.acquire(timeout=self._store.timeout_s if blocking else 0)
        except TimeoutError as err:  # filelock.Timeout
            if not blocking:
                return False
            bound = self._store.timeout_s
            raise self._store.failure(
                f"its lock file was held for more than {bound:g} s"
            ) from err
        return True

    def release(self) -> None:
        """Release the lock."""
        self._store.lock.release()

    def __enter__(self) -> _BoundedFileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


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
        """The store's clock (the database's for Postgres): the same for all.

        Raises:
            SharedBudgetError: the store failed or did not answer in time.
        """
        try:
            return self._store.now(self._inner)
        except SharedBudgetError:
            raise
        except Exception as err:
            if _is_store_error(err):
                raise self._store.failure(err) from err
            raise

    @override
    def limiter_lock(self) -> object | None:
        """The store's cross-process lock (SQLite), for the Limiter to take."""
        return self._store.bounded_lock(self._inner)

    @override
    def put(self, item: RateItem) -> bool:
        """Take a turn now if the window has none, timestamped by the clock now.

        Raises:
            SharedBudgetError: the store failed or did not answer in time.
        """
        lock = self.limiter_lock()
        try:
            with t.cast("t.ContextManager[object]", lock or contextlib.nullcontext()):
                item.timestamp = self.now()
                admitted = bool(self._inner.put(item))
        except SharedBudgetError:
            raise
        except Exception as err:
            if _is_store_error(err):
                raise self._store.failure(err) from err
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
        if self._closed or self._store.failed:
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
    max_rate_limit_wait: float | None = None,
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
        max_rate_limit_wait: longest wait for a turn (see
            :class:`~tap_mixoads.http.budget.RequestPacer`); None: no cap.

    Returns:
        A pacer; close it to release the store.
    """
    if shared_budget_url is None or not shared_budget_url.strip():
        return RequestPacer(
            requests_per_minute,
            name=client_id,
            logger=logger,
            max_wait_s=max_rate_limit_wait,
        )
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
        requests_per_minute,
        name=client_id,
        bucket=bucket,
        logger=logger,
        max_wait_s=max_rate_limit_wait,
        where=f"the shared budget at {store.url} (setting '{SETTING}')",
    )


__all__ = [
    "SharedBudgetError",
    "SharedBudgetStore",
    "make_pacer",
    "open_store",
    "redact_url",
    "table_name",
]
