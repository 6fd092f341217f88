"""The store a budget's turns are kept in, and the one store per URL and process."""

from __future__ import annotations

import sqlite3
import threading
import typing as t

from pyrate_limiter import AbstractBucket, Rate

from tap_mixoads.http.shared_budget.bucket import SharedBucket
from tap_mixoads.http.shared_budget.common import (
    SETTING,
    SharedBudgetError,
    describe_error,
    fail,
    is_psycopg_error,
    redact_url,
    secrets_of,
    store_timeout_s,
    table_name,
)

STORES: dict[tuple[str, int], SharedBudgetStore] = {}
STORES_LOCK = threading.Lock()


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
                reason = describe_error(err)
                for secret in secrets_of(self._raw_url):
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
            raise fail(self._raw_url, "cannot create a budget table in", err) from err
        except Exception as err:
            if is_psycopg_error(err):
                raise fail(
                    self._raw_url, "cannot create a budget table in", err
                ) from err
            raise
        self.acquire_ref()
        return SharedBucket(inner=inner, store=self)

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
            forget(self)
            self._close()

    def _make_bucket(self, table: str, rates: list[Rate]) -> AbstractBucket:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> SharedBudgetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def forget(store: SharedBudgetStore) -> None:
    """Drop a closed store from this process's open stores."""
    with STORES_LOCK:
        for key, value in list(STORES.items()):
            if value is store:
                del STORES[key]
