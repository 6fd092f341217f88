"""Where a pacer's turns are kept: wrappers of a pyrate-limiter bucket.

:class:`DelegatingBucket` hands the inspection calls to the bucket it wraps;
:class:`CappedBucket` raises instead of waiting past a cap (pyrate-limiter
sleeps whatever a bucket's ``waiting`` answers). The shared store's bucket
(:mod:`tap_mixoads.http.shared_budget.bucket`) is a wrapper too.
:class:`~tap_mixoads.http.budget.RequestPacer` takes its turns through them.
"""

from __future__ import annotations

import typing as t

from pyrate_limiter import AbstractBucket
from typing_extensions import override

from tap_mixoads.errors import BudgetWaitTooLongError

if t.TYPE_CHECKING:
    from pyrate_limiter import RateItem


class DelegatingBucket(AbstractBucket):
    """A bucket that wraps another: the inspection calls go to the inner one.

    The wrappers (the capped wait here, the shared store's bucket) change
    how a turn is taken; what the bucket holds stays the inner bucket's.
    """

    is_async = False

    def __init__(self, inner: AbstractBucket) -> None:
        self._inner = inner
        self.rates = inner.rates

    @override
    def flush(self) -> None:
        """Forget every turn (tests only)."""
        self._inner.flush()

    @override
    def count(self) -> int:
        """How many turns the inner bucket holds."""
        return int(t.cast("int", self._inner.count()))

    @override
    def peek(self, index: int) -> RateItem | None:
        """The ``index``-th newest turn."""
        return t.cast("RateItem | None", self._inner.peek(index))


class CappedBucket(DelegatingBucket):
    """A bucket whose computed wait may not exceed a cap.

    pyrate-limiter sleeps whatever ``waiting`` answers, with no bound of its
    own; this raises instead, before the sleep. Everything else is the inner
    bucket's.
    """

    def __init__(
        self, inner: AbstractBucket, *, cap_ms: int, describe: t.Callable[[int], str]
    ) -> None:
        super().__init__(inner)
        self._cap_ms = cap_ms
        self._describe = describe

    @override
    def now(self) -> int:
        """The inner bucket's clock."""
        inner: t.Any = self._inner  # AbstractBucket.now() is untyped
        return int(inner.now())

    @override
    def limiter_lock(self) -> object | None:
        """The inner bucket's lock, for the Limiter to take."""
        return self._inner.limiter_lock()

    @override
    def put(self, item: RateItem) -> bool:
        """Take a turn if the inner bucket has one now."""
        admitted = bool(self._inner.put(item))
        self.failing_rate = self._inner.failing_rate
        return admitted

    @override
    def waiting(self, item: RateItem) -> int:
        """The inner bucket's wait, unless it is beyond the cap.

        Raises:
            BudgetWaitTooLongError: the wait exceeds the cap.
        """
        wait_ms = int(t.cast("int", self._inner.waiting(item)))
        if wait_ms > self._cap_ms:
            raise BudgetWaitTooLongError(self._describe(wait_ms))
        return wait_ms

    @override
    def leak(self, current_timestamp: int | None = None) -> int:
        """Trim the inner bucket."""
        return int(t.cast("int", self._inner.leak(current_timestamp)))

    @override
    def close(self) -> None:
        """Close the inner bucket (a shared store's reference)."""
        closer = getattr(self._inner, "close", None)
        if callable(closer):
            closer()
