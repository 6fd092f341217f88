"""Connections that report their socket and the moment a request is written.

The budget records a call's departure just before it is handed to
``requests``; the bytes leave a little later. Usually that is well under a
millisecond, but a pause of the whole process in between (a full garbage
collection over a large heap, the OS handing both cores to other processes)
can hold one call back by 50 to 100 ms while the calls after it leave on
time. The server counts arrivals, so the window that starts at the late call
is then that much shorter than the budget planned, and with many accounts
in one process this showed up as a 429 about once per 100-account run.

These urllib3 connection classes call a hook the moment the request line,
headers and body have been written (``HTTPConnection.request`` has
returned), so the budget can move its record of that departure to the real
time before the calls that follow are spaced from it. The hook belongs to
one send, not to an account: the transport sets it around that send in a
:class:`contextvars.ContextVar` (each thread, and each asyncio task, sees
its own value), because urllib3 picks the connection inside its pool and
offers no public way to hand a connection a per-request callback. urllib3
calls ``request`` and then ``getresponse`` in the caller's context, so the
hook sees only that call.

The same connections also hand their socket to such a hook, so that the
whole-attempt deadline can shut it down (see
:mod:`tap_mixoads.http.watchdog`).
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import time
import typing as t

from typing_extensions import override
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

#: Called with the moment the current send's request was written.
_ON_WRITTEN: contextvars.ContextVar[Callable[[float], None] | None] = (
    contextvars.ContextVar("mixoads_on_written", default=None)
)
#: Called with the current send's socket (new or kept alive).
_ON_SOCKET: contextvars.ContextVar[Callable[[socket.socket], None] | None] = (
    contextvars.ContextVar("mixoads_on_socket", default=None)
)


class ReportingHTTPConnection(HTTPConnection):
    """``HTTPConnection`` that reports its socket and when its request was written."""

    @override
    def connect(self) -> None:
        super().connect()
        _report_socket(self.sock)

    @override
    def request(self, *args: t.Any, **kwargs: t.Any) -> None:
        if self.sock is not None:  # a kept-alive connection: no connect()
            _report_socket(self.sock)
        super().request(*args, **kwargs)
        on_written = _ON_WRITTEN.get()
        if on_written is not None:
            on_written(time.monotonic())


def _report_socket(sock: socket.socket | None) -> None:
    on_socket = _ON_SOCKET.get()
    if on_socket is not None and sock is not None:
        on_socket(sock)


class ReportingHTTPSConnection(ReportingHTTPConnection, HTTPSConnection):
    """``HTTPSConnection`` that reports when its request was written."""


class ReportingHTTPConnectionPool(HTTPConnectionPool):
    """A pool of :class:`ReportingHTTPConnection`."""

    ConnectionCls = ReportingHTTPConnection


class ReportingHTTPSConnectionPool(HTTPSConnectionPool):
    """A pool of :class:`ReportingHTTPSConnection`."""

    ConnectionCls = ReportingHTTPSConnection


#: For ``PoolManager.pool_classes_by_scheme``.
POOL_CLASSES: dict[str, type[HTTPConnectionPool]] = {
    "http": ReportingHTTPConnectionPool,
    "https": ReportingHTTPSConnectionPool,
}


@contextlib.contextmanager
def report_written(on_written: Callable[[float], None]) -> Iterator[None]:
    """While active, a request written by this send calls ``on_written(at)``."""
    token = _ON_WRITTEN.set(on_written)
    try:
        yield
    finally:
        _ON_WRITTEN.reset(token)


@contextlib.contextmanager
def report_socket(on_socket: Callable[[socket.socket], None]) -> Iterator[None]:
    """While active, a connection used by this send calls ``on_socket(sock)``.

    The whole-attempt deadline (:mod:`tap_mixoads.http.watchdog`) learns the
    attempt's socket this way, whether the connection is new or kept alive.
    """
    token = _ON_SOCKET.set(on_socket)
    try:
        yield
    finally:
        _ON_SOCKET.reset(token)
