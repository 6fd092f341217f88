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


class _Done(t.NamedTuple):
    account: Account


def fan_in(
    engine: EngineLoop,
    accounts: Sequence[Account],
    records_of: Callable[[Account], AsyncGenerator[dict[str, t.Any], None]],
    *,
    on_failure: Callable[[Account, Exception], None],
    on_done: Callable[[Account], None],
) -> Iterator[dict[str, t.Any]]:
    """Every account's records, as they come; one account's failure stops only it."""
    handed: queue.Queue[dict[str, t.Any] | _Done] = queue.Queue()
    room: asyncio.Semaphore | None = None

    async def work(account: Account) -> None:
        assert room is not None
        try:
            records = records_of(account)
            try:
                async for record in records:
                    await room.acquire()
                    handed.put(record)
            finally:
                await records.aclose()
        except Exception as exc:  # one account's failure never stops the rest
            on_failure(account, exc)
        finally:
            handed.put(_Done(account))

    async def everyone() -> None:
        nonlocal room
        room = asyncio.Semaphore(MAX_QUEUED_RECORDS)
        await asyncio.gather(*(work(account) for account in accounts))

    running = len(accounts)
    if not running:
        return
    future = engine.submit(everyone())
    try:
        while running:
            try:
                item = handed.get(timeout=WAKE_S)
            except queue.Empty:
                if (
                    future.done()
                    and not future.cancelled()
                    and future.exception() is not None
                ):
                    raise t.cast("BaseException", future.exception()) from None
                continue
            if isinstance(item, _Done):
                running -= 1
                on_done(item.account)
            else:
                assert room is not None
                engine.call(room.release)
                yield item
    finally:
        if not future.done():
            future.cancel()
