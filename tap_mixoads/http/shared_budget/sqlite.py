"""The SQLite store: one file on a local disk, guarded by a bounded file lock."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from pyrate_limiter import AbstractBucket, Rate
from typing_extensions import override

from tap_mixoads.http.shared_budget.common import fail
from tap_mixoads.http.shared_budget.store import SharedBudgetStore


class SQLiteStore(SharedBudgetStore):
    """One SQLite file and its file lock, shared by this machine's processes."""

    def __init__(self, *, url: str, path: Path) -> None:
        super().__init__(url=url)
        if not path.parent.is_dir():
            raise fail(url, "cannot open", f"no directory {path.parent}")
        try:
            from filelock import FileLock
        except ImportError as err:
            raise fail(url, "needs filelock installed to use", "not installed") from err
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
            raise fail(url, "cannot open", err) from err
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
        return BoundedFileLock(self)

    @override
    def _close(self) -> None:
        with contextlib.suppress(OSError):
            # Not another wait for a lock that already timed out.
            self.lock.acquire(timeout=0 if self.failed else self.timeout_s)
            try:
                self.conn.close()
            finally:
                self.lock.release()


class BoundedFileLock:
    """The SQLite store's file lock, failing the store when it times out."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock within the store's bound, however it is asked for.

        The pacer asks for a turn without blocking (it waits for the turn on
        the event loop), but not getting the lock is no answer about the
        turn: asked again at once, a lock that another (frozen) process holds
        would be asked for as long as that process lives. So the lock is
        always waited for, on the executor thread that asks, up to the bound.

        Raises:
            SharedBudgetError: another process held it past the bound.
        """
        self._store.check()
        try:
            self._store.lock.acquire(timeout=self._store.timeout_s)
        except TimeoutError as err:  # filelock.Timeout
            bound = self._store.timeout_s
            raise self._store.failure(
                f"its lock file was held for more than {bound:g} s"
            ) from err
        return True

    def release(self) -> None:
        """Release the lock."""
        self._store.lock.release()

    def __enter__(self) -> BoundedFileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
