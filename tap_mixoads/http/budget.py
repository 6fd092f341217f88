"""Client-side rate limiting: keep every client id inside the vendor's budget.

The Ad Platform API allows a fixed number of ``/api/*`` calls per sliding 60 s
window per client id, counting list and sync calls together, and answers 429
past it. Reacting to 429s wastes a call *and* a whole window, so the tap paces
itself instead: calls are spread evenly, one every ``60 / requests_per_minute``
seconds (plus a small safety margin). Even pacing also respects servers whose
window is shorter than a minute (e.g. 10 calls per 6 s for a budget of 100 per
minute), which a limiter that allowed a minute's budget in one burst would not.

Turns come from a pyrate-limiter bucket: an in-memory bucket for one
process, or a bucket in a shared store (see
:mod:`tap_mixoads.http.shared_budget`) so that every process using the same
client id takes its turn from one budget. A store's bucket holds
``Rate(1, interval)``, margin included: its turns are all that spaces the
processes. The in-memory bucket holds the exact interval: a turn is granted
a little after it is due (millisecond timestamps, the loop's timer), and
granted from the last grant, that lateness added up (2 ms a call, 0.2 s
over 100 calls); the planned spacing is held by ``mark_sending`` instead,
which measures from the departures and does not add it up.

A turn is not a departure: a call can leave later than its turn (a token
renewal, a busy CPU), and the server counts arrivals. ``mark_sending`` checks
the real departure times of this process's last calls and waits until no run
of k consecutive calls is shorter than k intervals; ``mark_sent`` moves a
recorded departure to the moment the request was written to the socket
(the wire reports it, see :mod:`tap_mixoads.http.wire`), so a call held back
by a pause of the whole process does not shorten the window that starts
with it.

No turn is waited for longer than ``max_rate_limit_wait`` (or two
intervals, when a budget's own spacing is wider): a turn further away can only have
been recorded in the future (a tampered store, a database clock stepped
back), and waiting for it would stall the run with no call sent. The call
fails at once with :class:`~tap_mixoads.errors.BudgetWaitTooLongError`, and
the account stops as after a 429 asking for too long.

When a 429 arrives anyway, the pace adapts (:mod:`tap_mixoads.http.slowdown`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import threading
import time
import typing as t

from pyrate_limiter import (
    AbstractBucket,
    InMemoryBucket,
    Limiter,
    Rate,
    SingleBucketFactory,
)

from tap_mixoads.http.slowdown import Slowdown
from tap_mixoads.http.turns import CappedBucket

if t.TYPE_CHECKING:
    from pyrate_limiter import RateItem

#: Extra spacing on top of the exact interval, as a fraction of it. The server
#: checks that call i+N arrives a full window after call i, so what matters is
#: the slack per window: 0.3% is 180 ms per 60 s window.
SAFETY_MARGIN = 0.003
#: Fixed extra spacing (milliseconds) per call, which dominates at high rates.
#: 5 ms: 61 ms of slack per 10-call 6 s window. 2 ms (34 ms) saw 4 x 429 in
#: one of two 100-account runs: a server busy with hundreds of calls in
#: flight counts some arrivals that much late.
SAFETY_MARGIN_MS = 5
#: How many recent departures ``mark_sending`` checks.
MAX_GUARDED_CALLS = 100
#: Pause before asking again when the limiter refused a turn without a wait.
REFUSED_RETRY_S = 0.002
#: An in-process bucket drops its expired turns once per this many turns.
LEAK_EVERY = 32


def pacing_interval_ms(requests_per_minute: float) -> int:
    """Return the spacing between two calls that keeps within the budget.

    Returns:
        Milliseconds between consecutive calls, safety margin included.
    """
    exact = 60_000 / requests_per_minute
    return math.ceil(exact * (1 + SAFETY_MARGIN) + SAFETY_MARGIN_MS)


class RequestPacer:
    """A gate on the event loop that lets one ``/api/*`` call through per interval.

    Args:
        requests_per_minute: the client id's budget.
        name: the client id: the bucket item name, and for log lines.
        bucket: where turns are kept; default: in this process only.
        logger: where the adaptive pace reports itself.
        max_wait_s: longest wait for a turn (``max_rate_limit_wait``); a
            budget whose own interval is longer may wait two intervals. None:
            no cap.
        where: names the budget in the error line (``shared_budget_url``).
    """

    def __init__(
        self,
        requests_per_minute: float,
        *,
        name: str = "api",
        bucket: AbstractBucket | None = None,
        logger: logging.Logger | None = None,
        max_wait_s: float | None = None,
        where: str = "this process's budget",
    ) -> None:
        self.interval_ms = pacing_interval_ms(requests_per_minute)
        exact_s = 60 / requests_per_minute  # the budget's, without the margin
        self.name = name
        self.logger = logger or logging.getLogger("tap-mixoads.budget")
        self._base_s = self.interval_ms / 1000
        #: How much a call may catch up on one that left late: one call's
        #: safety margin, so two calls are never closer than the budget's
        #: exact interval and k calls keep k - 1 margins. Without it every
        #: few-ms delay in leaving pushed all later calls back; over 100
        #: calls that added up to 0.3-0.6 s per account with 100 accounts.
        self._catch_up_s = max(0.0, self._base_s - exact_s)
        self.slowdown = Slowdown()
        self._departures: collections.deque[float] = collections.deque(
            maxlen=max(1, min(math.ceil(requests_per_minute), MAX_GUARDED_CALLS))
        )
        self._lock = threading.Lock()
        self._order = asyncio.Lock()
        self._queue = asyncio.Lock()
        self._shared = bucket is not None
        # buffer_ms is pyrate-limiter's extra sleep after a computed wait; our
        # own margin already covers drift, so none on top.
        # The in-memory bucket holds the exact interval (see the module doc).
        exact_ms = max(1, math.floor(60_000 / requests_per_minute))
        turns: AbstractBucket = bucket or InMemoryBucket([Rate(1, exact_ms)])
        if max_wait_s is not None:
            # A wait of about one interval is the budget at work, however
            # long (twice, for the clocks of the store and its processes).
            cap_ms = max(math.ceil(max_wait_s * 1000), 2 * self.interval_ms)

            def describe(wait_ms: int) -> str:
                return (
                    f"client id '{name}': the next turn in {where} is "
                    f"{wait_ms / 1000:.0f} s away, more than max_rate_limit_wait "
                    f"({max_wait_s:g} s); no more calls for this account in "
                    "this run"
                )

            turns = CappedBucket(turns, cap_ms=cap_ms, describe=describe)
        self._turns = turns
        self._admitted = 0
        if self._shared:
            # A store's bucket brings its own cross-process lock, which the
            # Limiter takes around each turn only when handed the bucket
            # itself; pyrate-limiter's leak thread trims the store's table.
            self._limiter = Limiter(turns, buffer_ms=0)
        else:
            # An in-process bucket is trimmed here, every LEAK_EVERY turns:
            # pyrate-limiter would start a leak thread per bucket, one per
            # account (a thousand threads for a thousand accounts).
            factory = SingleBucketFactory(turns, schedule_leak=False)
            self._limiter = Limiter(factory, buffer_ms=0)

    @property
    def interval_s(self) -> float:
        """The spacing in force now (the budget's, or wider after a 429)."""
        return self._base_s * self.slowdown.factor

    async def turn(self) -> None:
        """Wait (without a thread) until the next call may be sent.

        A turn is asked for without blocking; when the bucket has none, the
        bucket says how long until it may (the capped wait raises instead,
        see :class:`CappedBucket`) and the call sleeps on the event loop. A
        shared store's bucket does I/O on each ask, so those asks run on
        the loop's executor (a few threads for every account), each bounded
        by the store's own timeouts.

        A refused ask without a wait (pyrate-limiter reads a computed wait of
        -1 ms as "never fits"; with a shared Postgres store, another process
        holding the table lock) is asked again after ``REFUSED_RETRY_S``:
        sending anyway would be a call outside the budget.

        The account's calls wait for their turns one at a time (``_queue``):
        its concurrent sync calls would otherwise all ask, all be told the
        same wait, and all ask again, most of them in vain.
        """
        async with self._queue:
            while True:
                if self._shared:
                    admitted, wait_ms = await asyncio.to_thread(self._ask)
                else:
                    admitted, wait_ms = self._ask()
                if admitted:
                    return
                await asyncio.sleep(max(wait_ms / 1000, REFUSED_RETRY_S))

    def _ask(self) -> tuple[bool, int]:
        """A turn now (True), or how many ms until the bucket may have one."""
        if self._limiter.try_acquire(self.name, blocking=False):
            self._admitted += 1
            if not self._shared and self._admitted % LEAK_EVERY == 0:
                turns: t.Any = self._turns  # AbstractBucket.now() is untyped
                turns.leak(turns.now())
            return True, 0
        factory = self._limiter.bucket_factory
        item = t.cast("RateItem", factory.wrap_item(self.name))
        bucket = t.cast("AbstractBucket", factory.get(item))
        return False, int(t.cast("int", bucket.waiting(item)))

    async def mark_sending(self) -> float:
        """Wait, if earlier calls left late, then record this departure now.

        No run of k consecutive calls may be shorter than k intervals less
        one call's margin (``_catch_up_s``): a call that left a few ms late
        does not push every later call back, and the server still sees at
        least k exact budget intervals, with k - 1 margins, between them.

        Returns:
            The departure time (``time.monotonic``), for ``note_rate_limited``.

        Holding the account's order lock while waiting is deliberate:
        departures must be recorded in the order they happen.
        """
        async with self._order:
            wait = self._departure_wait()
            if wait > 0:
                await asyncio.sleep(wait)
            with self._lock:
                now = time.monotonic()
                self._departures.append(now)
                self.slowdown.recover()
                return now

    def _departure_wait(self) -> float:
        """Seconds until a call may leave without shortening any k-call run."""
        with self._lock:
            interval = self.interval_s
            now = time.monotonic()
            earliest = now
            for k, departed in enumerate(reversed(self._departures), start=1):
                earliest = max(earliest, departed + k * interval - self._catch_up_s)
            return earliest - now

    def mark_sent(self, recorded: float, written_at: float) -> None:
        """Move a departure recorded by ``mark_sending`` to when it really left.

        Args:
            recorded: ``mark_sending``'s value for the call.
            written_at: when its request was written to the socket (see
                :mod:`tap_mixoads.http.wire`).

        A call held back between its turn and the socket (a pause of the
        whole process) arrives later than recorded; the calls that follow
        are then spaced from its real departure, so the server never sees k
        consecutive calls in less than k intervals. Only ever moves a record
        later: an earlier reading is clock noise.
        """
        if written_at <= recorded:
            return
        with self._lock:
            for i in range(len(self._departures) - 1, -1, -1):
                if self._departures[i] == recorded:
                    self._departures[i] = written_at
                    return

    def note_rate_limited(self, sent_at: float | None = None) -> bool:
        """Slow down after a 429; True the first time (worth a warning).

        Args:
            sent_at: when the refused call left (``mark_sending``'s value). A
                call that left before the last slowdown was sent at the old
                pace: its 429 is no news, and slowing down again for it
                would compound one collision into a crawl.
        """
        with self._lock:
            return self.slowdown.note(
                sent_at=sent_at, now=time.monotonic(), interval_s=self.interval_s
            )

    def close(self) -> None:
        """Release the bucket's resources (a shared store's connection)."""
        bucket = getattr(self._limiter, "bucket_factory", None)
        closer = getattr(bucket, "close", None)
        if callable(closer):
            closer()
