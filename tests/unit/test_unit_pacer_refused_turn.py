"""A turn the limiter refuses without a wait is asked for again, never skipped.

pyrate-limiter's blocking ``try_acquire`` returns False when it computes a
wait of exactly -1 ms (its "can never fit" value), which a shared Postgres
store produces under lock contention. ``RequestPacer.acquire`` (now
``turn``) used to ignore the result and let the call go without a turn.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tap_mixoads.http.budget import RequestPacer


class NeverFits:
    """A bucket whose computed wait is pyrate-limiter's "can never fit"."""

    def waiting(self, item: Any) -> int:
        return -1


class Buckets:
    """The limiter's bucket factory: every item goes to one refusing bucket."""

    def wrap_item(self, name: str) -> str:
        return name

    def get(self, item: Any) -> NeverFits:
        return NeverFits()


class RefusingLimiter:
    """Refuses ``refusals`` times (without a wait), then admits."""

    def __init__(self, refusals: int) -> None:
        self.answers = [False] * refusals + [True]
        self.calls = 0
        self.bucket_factory = Buckets()

    def try_acquire(self, name: str, **kwargs: Any) -> bool:
        self.calls += 1
        return self.answers.pop(0)


def test_a_turn_is_asked_again_until_it_is_given():
    pacer = RequestPacer(6000, name="client-x")
    limiter = RefusingLimiter(refusals=3)
    pacer._limiter = limiter  # type: ignore[assignment]
    asyncio.run(pacer.turn())
    assert limiter.calls == 4
    assert limiter.answers == []
