"""The pace of one client id after a 429: slower at once, back by degrees.

When a 429 arrives although the tap kept its budget (a noisy network, or
another process that uses the same client id without sharing the budget),
the interval is multiplied by ``SLOWDOWN_FACTOR`` (once per collision: only
for calls sent after the last slowdown, up to ``MAX_SLOWDOWN``) and recovers
by ``RECOVERY_STEP`` per call, but never below a floor: after a first 429 a
margin widened for the rest of the run (a noisy box costs one 429, not one
per window); once 429s repeat, ``SHARED_FLOOR_FACTOR`` times the pace that
was refused (another process spends the same budget: the two settle near
half each within a few refusals instead of colliding every few calls).

:class:`~tap_mixoads.http.budget.RequestPacer` holds one per client id and
calls it under its own lock.
"""

from __future__ import annotations

import math

#: After a 429 the interval is multiplied by this ...
SLOWDOWN_FACTOR = 2.0
#: ... up to this many times the budget's own interval ...
MAX_SLOWDOWN = 16.0
#: ... and shrinks back by this factor per call that leaves ...
RECOVERY_STEP = 0.97
#: ... but never below this, once the run has seen a 429 (a widened margin:
#: one 429 is taken for noise, a busy machine or network) ...
WIDENED_MARGIN = 1.03
#: ... and once 429s repeat (another process spends the same budget), never
#: below this much slower than the pace that was last refused: two processes
#: settle near half the budget each within a few refusals.
SHARED_FLOOR_FACTOR = 1.5


class Slowdown:
    """How many times its budget's interval a client id waits between calls."""

    def __init__(self) -> None:
        #: The factor in force now (1.0: the budget's own pace).
        self.factor = 1.0
        #: 429s seen in this run.
        self.rate_limited = 0
        self._floor = 1.0
        self._last_at = -math.inf

    def recover(self) -> None:
        """One call left: a step back towards the floor."""
        self.factor = max(self._floor, self.factor * RECOVERY_STEP)

    def note(self, *, sent_at: float | None, now: float, interval_s: float) -> bool:
        """Count a 429 and slow down if it is news; True the first time.

        Args:
            sent_at: when the refused call left. A call that left before the
                last slowdown was sent at the old pace: its 429 is no news,
                and slowing down again for it would compound one collision
                into a crawl.
            now: the time of the answer.
            interval_s: the spacing in force when it came.
        """
        self.rate_limited += 1
        fresh = sent_at is None or sent_at > self._last_at
        # Concurrent calls answered 429 together are one signal, not many.
        if fresh and now - self._last_at >= interval_s:
            refused_at = self.factor
            if self._last_at == -math.inf:
                self._floor = max(self._floor, WIDENED_MARGIN)
            else:
                self._floor = min(
                    MAX_SLOWDOWN, max(self._floor, refused_at * SHARED_FLOOR_FACTOR)
                )
            self.factor = min(
                MAX_SLOWDOWN, max(self._floor, refused_at * SLOWDOWN_FACTOR)
            )
            self._last_at = now
        return self.rate_limited == 1
