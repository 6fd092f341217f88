"""A pyrate-limiter bucket whose every operation goes through the store's bounds."""

from __future__ import annotations

import contextlib
import typing as t

from pyrate_limiter import AbstractBucket, RateItem
from typing_extensions import override

from tap_mixoads.http.shared_budget.common import (
    LOG,
    SharedBudgetError,
    describe_error,
    is_store_error,
)
from tap_mixoads.http.turns import DelegatingBucket


class StoreSide(t.Protocol):
    """What a bucket needs of its store (:class:`~.store.SharedBudgetStore`)."""

    url: str
    failed: str | None

    def failure(self, err: BaseException | str) -> SharedBudgetError:
        """The one-line error for a store failure (and note the store failed)."""
        ...

    def now(self, inner: AbstractBucket) -> int:
        """The store's clock, in milliseconds."""
        ...

    def bounded_lock(self, inner: AbstractBucket) -> object | None:
        """The store's lock around one operation, bounded in time."""
        ...

    def release(self) -> None:
        """Drop one user of the store."""
        ...


class SharedBucket(DelegatingBucket):
    """A store's bucket as one client id's pacer sees it.

    It re-reads the clock at each put (see the module docstring), turns store
    failures into one-line errors, keeps the background leak from dying on a
    hiccup, and on close releases the store instead of closing the connection
    that other client ids of this process share.
    """

    def __init__(self, *, inner: AbstractBucket, store: StoreSide) -> None:
        super().__init__(inner)
        self._store = store
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
            if is_store_error(err):
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
            if is_store_error(err):
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
            LOG.warning(
                "Cannot trim the shared budget at %s: %s",
                self._store.url,
                describe_error(err),
            )
            return 0

    @override
    def close(self) -> None:
        """Release the store; the last bucket of a process closes it."""
        if not self._closed:
            self._closed = True
            self._store.release()
