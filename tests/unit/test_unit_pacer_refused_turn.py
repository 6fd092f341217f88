"""A turn the limiter refuses without a wait is asked for again, never skipped.

pyrate-limiter's blocking ``try_acquire`` returns False when it computes a
wait of exactly -1 ms (its "can never fit" value), which a shared Postgres
store produces under lock contention. ``RequestPacer.acquire`` used to ignore
the result and let the call go without a turn.
"""

from __future__ import annotations

from typing import Any

from tap_mixoads.http.budget import RequestPacer


class RefusingLimiter:
    """Refuses ``refusals`` times, then admits."""

    def __init__(self, refusals: int) -> None:
        self.answers = [False] * refusals + [True]
        self.calls = 0

    def try_acquire(self, name: str, **kwargs: Any) -> bool:
        self.calls += 1
        return self.answers.pop(0)


def test_acquire_asks_again_until_a_turn_is_given():
    pacer = RequestPacer(6000, name="client-x")
    limiter = RefusingLimiter(refusals=3)
    pacer._limiter = limiter  # type: ignore[assignment]
    pacer.acquire()
    assert limiter.calls == 4
    assert limiter.answers == []
