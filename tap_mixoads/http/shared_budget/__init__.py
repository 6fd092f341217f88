"""One budget per client id, shared by every process that uses it.

Several taps (or several accounts of one tap) can run under the same client id,
on one machine or many. Each process pacing itself would let N processes send
N times the budget, so with the setting ``shared_budget_url`` the turns are
taken from a pyrate-limiter bucket kept in a store they all reach:

* ``postgresql://user:password@host:5432/db`` (or ``postgres://``): one table
  per client id in that database; any number of machines;
* ``sqlite:///path/to/budget.db``: one file on a local disk, guarded by a file
  lock; processes of one machine only.

The pacing itself (interval, safety margin, departure guard, slowdown after a
429) stays in :class:`~tap_mixoads.http.budget.RequestPacer`; only where the
turns are kept changes.

Pitfalls of pyrate-limiter (>= 4.5, whose Postgres bucket checks and inserts
under a table lock, atomically across processes; 3.x's did not) handled here:

* Its Postgres bucket counts every row of its table, whatever the item name,
  so each client id gets its own table. Postgres folds identifiers to lower
  case and cuts them at 63 bytes, and client ids differ in case and can be
  long, so the table name is a hash of the client id (:func:`table_name`).
* It stores turns as ``TIMESTAMP`` (without time zone) converted in the
  session's time zone. Two processes whose sessions differ (``PGTZ``, a
  server or role default) store the same instant hours apart, and then one
  ignores the other's turns while the other waits for hours. Every session is
  pinned to UTC when the connection opens.
* Its connection pool would hold four connections per process by default;
  turns are short and serialised anyway, so one connection per process and
  store is enough, shared by every client id of the process.
* Its SQLite bucket is only atomic across processes with its file lock; the
  lock is always used here, and the directory must exist (``filelock``
  would create it, hiding a typo).
* Its blocking acquire sleeps the computed wait and then retries with the
  item's timestamp advanced by that wait, not the clock's time: a process
  that wakes late would record its turn earlier than it was taken, letting
  another process's next turn follow too closely. Each put here re-reads the
  clock.

If the store cannot be reached the tap stops before any API call with one
line naming the setting (never the password); it never falls back to a budget
of its own, which would silently multiply the client id's rate.

A store that fails or stops answering during the run fails it too, within
:data:`STORE_TIMEOUT_S`: every operation on the store (waiting for this
process's connection included) has that long, after which the store is
given up for the rest of the run (each client id of the process stops at its
next turn, with the same line). A refused connection fails at once. A server
that stops answering without closing anything (frozen, or a network that
drops packets) is only noticed by a client-side bound: a watchdog shuts the
connection's socket down at the deadline, since the kernel keeps
acknowledging what a frozen server never reads (so neither TCP keepalives
nor a server-side ``statement_timeout`` would end the wait). pyrate-limiter's
Postgres clock falls back to the local clock after a pool timeout, logging a
traceback; the clock is read here instead, through the same bounded path.
"""

from __future__ import annotations

import os
import typing as t
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tap_mixoads.http.budget import RequestPacer, pacing_interval_ms
from tap_mixoads.http.shared_budget.common import (
    SETTING,
    STORE_TIMEOUT_ENV,
    SharedBudgetError,
    fail,
    redact_url,
    table_name,
)
from tap_mixoads.http.shared_budget.postgres import PostgresStore
from tap_mixoads.http.shared_budget.sqlite import SQLiteStore
from tap_mixoads.http.shared_budget.store import STORES, STORES_LOCK, SharedBudgetStore

if t.TYPE_CHECKING:
    import logging


def open_store(url: str) -> SharedBudgetStore:
    """Open the store at ``url``, or reuse this process's open one.

    So that all client ids of a process share one connection per store. The
    caller holds a reference: call :meth:`SharedBudgetStore.release` (or use
    it as a context manager) when done; buckets hold their own.

    Raises:
        ConfigError: the URL is not supported or the store cannot be reached.
    """
    key = (url, os.getpid())  # a forked child must not share its parent's socket
    with STORES_LOCK:
        store = STORES.get(key)
        if store is None or store.closed:
            store = _connect(url)
            STORES[key] = store
        store.acquire_ref()
        return store


def _connect(url: str) -> SharedBudgetStore:
    try:
        parts = urlsplit(url)
    except ValueError as err:
        raise fail(url, "cannot parse", err) from err
    scheme = parts.scheme.lower()
    if scheme in {"postgresql", "postgres"}:
        return PostgresStore(url=url)
    if scheme == "sqlite":
        if parts.netloc not in {"", "localhost"} or not parts.path:
            raise fail(url, "cannot use", "expected sqlite:///path/to/file.db")
        return SQLiteStore(url=url, path=Path(unquote(parts.path)))
    raise fail(url, "cannot use", "expected a postgresql:// or sqlite:/// URL")


def make_pacer(
    *,
    requests_per_minute: float,
    client_id: str,
    shared_budget_url: str | None,
    logger: logging.Logger,
    max_rate_limit_wait: float | None = None,
) -> RequestPacer:
    """Return the pacer for ``client_id``: this process's own, or a shared one.

    Call it before any API call: a store that cannot be reached stops the tap
    here, with a :class:`ConfigError` naming the setting.

    Args:
        requests_per_minute: the client id's budget.
        client_id: the ``X-Client-ID`` whose calls share the budget.
        shared_budget_url: where the budget is kept; None or blank for this
            process alone.
        logger: where the pacer reports itself.
        max_rate_limit_wait: longest wait for a turn (see
            :class:`~tap_mixoads.http.budget.RequestPacer`); None: no cap.

    Returns:
        A pacer; close it to release the store.
    """
    if shared_budget_url is None or not shared_budget_url.strip():
        return RequestPacer(
            requests_per_minute,
            name=client_id,
            logger=logger,
            max_wait_s=max_rate_limit_wait,
        )
    interval_ms = pacing_interval_ms(requests_per_minute)
    with open_store(shared_budget_url.strip()) as store:
        bucket = store.bucket(client_id=client_id, interval_ms=interval_ms)
    logger.info(
        "Budget of %s calls/min shared through %s (table %s)",
        f"{requests_per_minute:g}",
        store.url,
        table_name(client_id),
    )
    return RequestPacer(
        requests_per_minute,
        name=client_id,
        bucket=bucket,
        logger=logger,
        max_wait_s=max_rate_limit_wait,
        where=f"the shared budget at {store.url} (setting '{SETTING}')",
    )


__all__ = [
    "SETTING",
    "STORE_TIMEOUT_ENV",
    "SharedBudgetError",
    "SharedBudgetStore",
    "make_pacer",
    "open_store",
    "redact_url",
    "table_name",
]
