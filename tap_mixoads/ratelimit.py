"""Client-side rate limiting: keep every run inside the vendor's request budget.

The Ad Platform API allows a fixed number of ``/api/*`` calls per sliding 60 s
window per client id, counting list and sync calls together, and answers 429
past it. Reacting to 429s wastes a call *and* a whole window, so the tap paces
itself instead: calls are spread evenly, one every ``60 / requests_per_minute``
seconds (plus a small safety margin). Even pacing also respects servers whose
window is shorter than a minute (e.g. 10 calls per 6 s for a budget of 100 per
minute), which a limiter that allowed a minute's budget in one burst would not.

The pacing itself is `pyrate-limiter`'s sliding-window log (thread-safe, so the
concurrent sync calls share one budget with the list calls). It is applied to
every attempt just before it is sent (see ``MixoAdsStream._send``), retries
included, and *before* the bearer token is put on the request: a call that
waited its turn still leaves with a token that is fresh.
"""

from __future__ import annotations

import collections
import math
import threading
import time

from pyrate_limiter import InMemoryBucket, Limiter, Rate

#: Extra spacing on top of the exact interval, as a fraction of it. The server
#: checks that call i+N arrives a full window after call i, so what matters is
#: the slack per window: 0.3% is 180 ms per 60 s window, room for network and
#: scheduling jitter, while costing a 100-call run under 0.5% of its time.
SAFETY_MARGIN = 0.003
#: Fixed extra spacing (milliseconds) per call, which dominates at high rates
#: (50 ms per 10 calls): a thread may wake a little late after its turn.
SAFETY_MARGIN_MS = 5


#: How many recent departures ``mark_sending`` checks: a server window that
#: holds more calls than this is checked only through the pacing itself.
MAX_GUARDED_CALLS = 100


def pacing_interval_ms(requests_per_minute: int) -> int:
    """Return the spacing between two calls that keeps within the budget.

    Args:
        requests_per_minute: the client-side budget for all ``/api/*`` calls.

    Returns:
        Milliseconds between consecutive calls, safety margin included.
    """
    exact = 60_000 / requests_per_minute
    return math.ceil(exact * (1 + SAFETY_MARGIN) + SAFETY_MARGIN_MS)


class RequestPacer:
    """A thread-safe gate that lets one ``/api/*`` call through per interval.

    Two steps per call. ``acquire`` takes a turn from pyrate-limiter: turns
    are spaced ``interval_ms`` apart. But a call can leave later than its
    turn (a token renewal, a busy CPU), and the server counts arrivals, not
    turns: one late call followed by punctual ones would put N+1 calls into
    one server window. So ``mark_sending``, called as the request goes on
    the wire, checks the real departure times of the last calls and waits
    until no run of k consecutive calls is shorter than k intervals (margin
    included: calls catching up after a stall keep the slack that absorbs
    network and scheduling jitter at the server).
    """

    def __init__(self, requests_per_minute: int) -> None:
        self.interval_ms = pacing_interval_ms(requests_per_minute)
        self._interval_s = self.interval_ms / 1000
        self._departures: collections.deque[float] = collections.deque(
            maxlen=min(requests_per_minute, MAX_GUARDED_CALLS)
        )
        self._departure_lock = threading.Lock()
        # buffer_ms is pyrate-limiter's extra sleep after a computed wait; our
        # own margin already covers drift, so none on top.
        self._limiter = Limiter(
            InMemoryBucket([Rate(1, self.interval_ms)]), buffer_ms=0
        )

    def acquire(self) -> None:
        """Block until the next call may be sent."""
        self._limiter.try_acquire("api", blocking=True)

    def mark_sending(self) -> None:
        """Wait, if earlier calls left late, then record this departure now.

        Holding the lock while waiting is deliberate: departures must be
        recorded in the order they happen, and the wait is short (it only
        makes up for lateness beyond the safety margin).
        """
        with self._departure_lock:
            now = time.monotonic()
            earliest = now
            for k, departed in enumerate(reversed(self._departures), start=1):
                earliest = max(earliest, departed + k * self._interval_s)
            if earliest > now:
                time.sleep(earliest - now)
                now = time.monotonic()
            self._departures.append(now)
