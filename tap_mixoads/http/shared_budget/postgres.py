"""The Postgres store: one bounded connection, pinned to UTC, watched."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import typing as t

from pyrate_limiter import AbstractBucket, Rate
from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Iterator
from tap_mixoads.http.shared_budget.common import (
    APPLICATION_NAME,
    CLOCK_QUERY,
    CONNECT_TIMEOUT_S,
    fail,
)
from tap_mixoads.http.shared_budget.store import SharedBudgetStore


class PostgresStore(SharedBudgetStore):
    """One connection (a psycopg pool of size 1) to a PostgreSQL database."""

    def __init__(self, *, url: str) -> None:
        super().__init__(url=url)
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as err:
            raise fail(
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
                pin_utc(probe)
        except psycopg.Error as err:
            raise fail(url, "cannot reach", err) from err
        pool: ConnectionPool[t.Any] = ConnectionPool(
            url,
            kwargs=kwargs,
            min_size=1,
            max_size=1,
            open=False,
            configure=pin_utc,
            name="mixoads-shared-budget",
            timeout=self.timeout_s,
            num_workers=1,
        )
        try:
            pool.open(wait=True, timeout=CONNECT_TIMEOUT_S + 5)
        except psycopg.Error as err:
            pool.close()
            raise fail(url, "cannot reach", err) from err
        self.pool = pool
        self.watchdog = StoreWatchdog()
        self.bounded = BoundedPool(self)

    @override
    def _make_bucket(self, table: str, rates: list[Rate]) -> AbstractBucket:
        from pyrate_limiter import PostgresBucket

        return PostgresBucket(t.cast("t.Any", self.bounded), table, rates)

    @override
    def now(self, inner: AbstractBucket) -> int:
        """The database's clock, read within the bound (never the local one)."""
        with self.bounded.connection() as conn:
            row = conn.execute(CLOCK_QUERY).fetchone()
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


class Guard:
    """One armed operation: its connection, deadline, and whether it fired."""

    def __init__(self, conn: t.Any, deadline: float) -> None:
        self.conn = conn
        self.deadline = deadline
        self.fired = False


class StoreWatchdog:
    """Shuts a connection's socket down when its operation outlasts its deadline.

    psycopg's blocking calls wait on the socket with no timeout of their
    own; a socket shut down is readable at once, so the call fails with a
    closed connection (which the pool then discards). One thread per store,
    started with the first operation.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: list[Guard] = []
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextlib.contextmanager
    def guard(self, conn: t.Any, deadline: float) -> Iterator[Guard]:
        """Arm the watchdog for ``conn`` until ``deadline`` while in the block."""
        guard = Guard(conn, deadline)
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
                    shut_down(guard.conn)
                deadline = min((g.deadline for g in self._armed), default=None)
                self._cond.wait(None if deadline is None else deadline - now)


def shut_down(conn: t.Any) -> None:
    """Shut the connection's socket down (the descriptor stays psycopg's)."""
    with contextlib.suppress(Exception):
        duplicate = os.dup(conn.pgconn.socket)
        with socket.socket(fileno=duplicate) as sock:
            sock.shutdown(socket.SHUT_RDWR)


class BoundedPool:
    """The pool as pyrate-limiter's Postgres bucket sees it: every use bounded.

    ``connection()`` is all the bucket asks of a pool. Waiting for the
    connection, using it and ending its transaction share one deadline,
    :data:`STORE_TIMEOUT_S` from the start; a failure to connect or to
    answer gives the store up.
    """

    def __init__(self, store: PostgresStore) -> None:
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
        guard: Guard | None = None
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


def pin_utc(conn: t.Any) -> None:
    """Pin the session to UTC (pyrate-limiter stores timestamps without zone).

    Runs on every new connection, so it also holds after a reconnect; it
    overrides ``PGTZ`` and any server or role default.
    """
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()
