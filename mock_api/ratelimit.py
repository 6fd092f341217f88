"""The vendor's sliding-window-log rate limiter, one log per client id.

A sliding log (not a fixed window or a token bucket) is what the vendor
documents, and it is the strictest shape: a client that bursts at the end of
one minute and the start of the next is caught, so the tap's limiter must
really space its calls.
"""

from __future__ import annotations

import collections
import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The limiter's answer for one request."""

    allowed: bool
    retry_after: int = 0


class SlidingWindowLimiter:
    """Allow ``limit`` calls per ``window`` seconds for each client id."""

    def __init__(self) -> None:
        self._logs: dict[str, collections.deque[float]] = {}

    def reset(self) -> None:
        """Forget every client's history."""
        self._logs.clear()

    def hit(
        self,
        client: str,
        now: float,
        *,
        limit: int,
        window: float,
        count_rejected: bool = True,
        exact_retry_after: bool = False,
    ) -> Verdict:
        """Record one arrival and say whether it is within the limit.

        Args:
            client: The bucket, from ``X-Client-ID``.
            now: Monotonic arrival time.
            limit: Calls allowed per window; 0 means unlimited.
            window: Window length in seconds.
            count_rejected: Whether a rejected call also occupies the window,
                as the vendor documents ("errors still count").
            exact_retry_after: Report the seconds until the oldest call leaves
                the window rather than the whole window length.

        Returns:
            Whether the call is allowed and, if not, the advised wait.
        """
        if limit <= 0:
            return Verdict(allowed=True)
        log = self._logs.setdefault(client, collections.deque())
        while log and log[0] <= now - window:
            log.popleft()
        over = len(log) >= limit
        if not over or count_rejected:
            log.append(now)
        if not over:
            return Verdict(allowed=True)
        if exact_retry_after:
            wait = max(1, math.ceil(log[0] + window - now))
        else:
            wait = max(1, math.ceil(window))
        return Verdict(allowed=False, retry_after=wait)
