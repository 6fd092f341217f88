"""Many accounts' records into one stream, through a bounded queue.

Each account runs on its own thread and puts its records on one queue; the
thread that writes messages takes them off in arrival order. The queue's
bound is the back-pressure: an account cannot run further ahead of the
writer than ``MAX_QUEUED_RECORDS`` records. When an account is done (or
failed), ``on_done`` runs on the writer's thread, so the account's state is
saved where the SDK serialises it.
"""

from __future__ import annotations

import queue
import threading
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from tap_mixoads.config.accounts import Account

#: Records waiting between the account threads and the writer (back-pressure).
MAX_QUEUED_RECORDS = 2000


class _Done(t.NamedTuple):
    account: Account


def fan_in(
    accounts: Sequence[Account],
    records_of: Callable[[Account], Iterable[dict[str, t.Any]]],
    *,
    on_failure: Callable[[Account, Exception], None],
    on_done: Callable[[Account], None],
) -> Iterator[dict[str, t.Any]]:
    """Every account's records, as they come; one account's failure stops only it."""
    records: queue.Queue[dict[str, t.Any] | _Done] = queue.Queue(
        maxsize=MAX_QUEUED_RECORDS
    )

    def work(account: Account) -> None:
        try:
            for record in records_of(account):
                records.put(record)
        except Exception as exc:  # one account's failure never stops the rest
            on_failure(account, exc)
        finally:
            records.put(_Done(account))

    threads = [
        threading.Thread(
            target=work,
            args=(account,),
            name=f"mixoads-{account.client_id}",
            daemon=True,
        )
        for account in accounts
    ]
    for thread in threads:
        thread.start()
    running = len(threads)
    while running:
        item = records.get()
        if isinstance(item, _Done):
            running -= 1
            on_done(item.account)
        else:
            yield item
