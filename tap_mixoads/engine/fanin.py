"""Many accounts' records into one stream, through a bounded hand-over.

Each account is a task on the engine's loop (:mod:`tap_mixoads.engine.loop`)
and puts its records on one queue; the thread that writes messages takes
them off in arrival order. The hand-over's bound is the back-pressure: the
accounts together cannot run further ahead of the writer than
``MAX_QUEUED_RECORDS`` records (an account waits for room as a task, not a
thread). When an account is done (or failed), ``on_done`` runs on the
writer's thread, so the account's state is saved where the SDK serialises
it.
"""

from __future__ import annotations

import asyncio
import functools
import queue
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Iterator, Sequence

    from tap_mixoads.config.accounts import Account
    from tap_mixoads.engine.loop import EngineLoop

#: Records waiting between the accounts and the writer (back-pressure).
MAX_QUEUED_RECORDS = 2000
#: How often the writer's wait wakes (so a signal is handled at once).
WAKE_S = 1.0


#: Records taken off between two hand-backs of room to the accounts.
RELEASE_EVERY = 500
#: The share of a pacing interval that the accounts' starts spread over.
STAGGER_SHARE = 0.5


class _Done(t.NamedTuple):
    account: Account


def _release(room: asyncio.Semaphore | None, places: int) -> None:
    """Give ``places`` places back to the accounts waiting for room."""
    assert room is not None
    for _ in range(places):
        room.release()


def stagger(spacings: Sequence[float]) -> list[float]:
    """Each account's start, after the first's (see :func:`fan_in`).

    Args:
        spacings: each account's pacing interval, in seconds.

    Returns:
        Account i of n: ``i / n`` of ``STAGGER_SHARE`` of its interval.
    """
    n = len(spacings)
    return [i / n * spacing * STAGGER_SHARE for i, spacing in enumerate(spacings)]


def fan_in(
    engine: EngineLoop,
    accounts: Sequence[Account],
    records_of: Callable[[Account], AsyncGenerator[dict[str, t.Any], None]],
    *,
    on_failure: Callable[[Account, Exception], None],
    on_done: Callable[[Account], None],
    spacing_of: Callable[[Account], float] = lambda _account: 0.0,
    between_batches: Callable[[], None] | None = None,
) -> Iterator[dict[str, t.Any]]:
    """Every account's records, as they come; one account's failure stops only it.

    ``between_batches`` runs on the writer's thread after each batch handed
    over (a loop turn's records), for work that must come between records
    but not for each one.

    Account i of n starts ``i / n`` of half its pacing interval
    (``spacing_of``, ``STAGGER_SHARE``) after the first (:func:`stagger`):
    accounts that all started at once would send every call of theirs in
    step, a burst of n calls each interval, which a server works through for
    a while and so counts some arrivals late; a call counted late makes the
    window that starts with it look short (a 429). Spread over half an
    interval, the n accounts are an even stream for half of each interval,
    and the last account starts (and ends) half an interval after the first.
    (Measured with 100 accounts at a 0.6 s interval: over the whole interval
    the last call left 0.27 s later than over half; over a third, the calls
    of each interval were late by about what the shorter spread saved.)
    """
    handed: queue.Queue[list[dict[str, t.Any] | _Done]] = queue.Queue()
    room: asyncio.Semaphore | None = None
    batch: list[dict[str, t.Any] | _Done] = []

    def hand(item: dict[str, t.Any] | _Done) -> None:
        # What the accounts produce in one turn of the loop crosses to the
        # writer's thread as one batch: one wake-up of that thread (and one
        # tussle for the GIL) per turn, not per record.
        if not batch:
            asyncio.get_running_loop().call_soon(send_batch)
        batch.append(item)

    def send_batch() -> None:
        handed.put(batch[:])
        batch.clear()

    async def work(account: Account, delay: float) -> None:
        assert room is not None
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            records = records_of(account)
            try:
                async for record in records:
                    await room.acquire()
                    hand(record)
            finally:
                await records.aclose()
        except Exception as exc:  # one account's failure never stops the rest
            on_failure(account, exc)
        finally:
            hand(_Done(account))

    async def everyone() -> None:
        nonlocal room
        room = asyncio.Semaphore(MAX_QUEUED_RECORDS)
        delays = stagger([spacing_of(account) for account in accounts])
        await asyncio.gather(*map(work, accounts, delays))

    running = len(accounts)
    if not running:
        return
    future = engine.submit(everyone())
    try:
        while running:
            try:
                items = handed.get(timeout=WAKE_S)
            except queue.Empty:
                if (
                    future.done()
                    and not future.cancelled()
                    and future.exception() is not None
                ):
                    raise t.cast("BaseException", future.exception()) from None
                continue
            freed = 0
            for item in items:
                if isinstance(item, _Done):
                    running -= 1
                    on_done(item.account)
                    continue
                freed += 1
                if freed >= RELEASE_EVERY:
                    engine.call(functools.partial(_release, room, freed))
                    freed = 0
                yield item
            if freed:
                # Room goes back in batches too: each hand-back wakes the
                # loop's thread (a write to its self-pipe).
                engine.call(functools.partial(_release, room, freed))
            if between_batches is not None:
                between_batches()
    finally:
        if not future.done():
            future.cancel()
