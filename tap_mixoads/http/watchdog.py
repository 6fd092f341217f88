"""One thread that ends every attempt that outlives its deadline.

A socket timeout bounds each read, not the whole answer: a server that
trickles its status line and headers at one byte a second never trips it,
and the call hangs for as long as the server likes. ``request_deadline``
bounds the whole attempt (connect, headers and body) instead: each attempt
is watched from its start, and once its deadline passes this thread shuts
the attempt's socket down, which makes the blocked read return at once. The
transport then reports the attempt as a :class:`DeadlineExceededError`.

One thread serves every attempt of the process, whatever the number of
accounts or calls in flight: a heap of deadlines, woken when an earlier
deadline arrives.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
import typing as t


class Watch:
    """One attempt under watch: its deadline, its socket once it has one."""

    __slots__ = ("deadline", "done", "expired", "sock")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.sock: socket.socket | None = None
        self.expired = False
        self.done = False


class Watchdog:
    """Shuts down the sockets of attempts past their deadline (lazily started)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float) -> Watch:
        """Start watching an attempt that must end by ``deadline`` (monotonic)."""
        watch = Watch(deadline)
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="mixoads-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return watch

    def arm(self, watch: Watch, sock: socket.socket | None) -> None:
        """Tell the watchdog which socket the attempt uses (after connecting)."""
        if sock is None:
            return
        with self._cond:
            watch.sock = sock
            if watch.expired:  # the deadline passed while connecting
                _shut(sock)

    def release(self, watch: Watch) -> None:
        """The attempt ended: forget it (its heap slot is dropped lazily)."""
        with self._cond:
            watch.done = True
            watch.sock = None

    def _loop(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, _, watch = self._heap[0]
                now = time.monotonic()
                if deadline > now:
                    self._cond.wait(deadline - now)
                    continue
                heapq.heappop(self._heap)
                watch.expired = True
                if watch.sock is not None:
                    _shut(watch.sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


#: The process's one watchdog.
WATCHDOG = Watchdog()


@contextlib.contextmanager
def watched(deadline: float) -> t.Iterator[Watch]:
    """Watch one attempt for the duration of the block."""
    watch = WATCHDOG.watch(deadline)
    try:
        yield watch
    finally:
        WATCHDOG.release(watch)
