"""The post-extract hook: sync every extracted campaign on the platform.

``POST /api/campaigns/{id}/sync`` takes about 2 s and shares the vendor's
request budget with the list calls, so doing it one campaign at a time would
spend most of the run waiting for answers. The hook keeps up to
``sync_concurrency`` calls in flight, each a task on the engine's loop; the
account's budget (see :mod:`tap_mixoads.http.budget`) keeps the total within
the limit, so the
run ends close to the floor the rate limit allows.

Records come out as their syncs finish, not in extraction order: the hook
holds only a bounded window of records waiting for their sync, never the
whole run, and a campaign in its retry backoff holds only its own record
back, not the ones listed after it. A record whose outcome is carried (no
sync call in this run) goes out at once. A campaign whose sync fails after
every retry is not dropped: its record is emitted with the failure recorded,
and the run ends with a summary line.

A sync answered 404 *with the platform's own error body* says that one
campaign does not exist: its record is dropped and named, once a success
shows the route works (until then it waits in the window). A 404 that is not
the platform's (a proxy, a moved route) says the sync endpoint itself is
missing, at once. Platform 404s say so only from evidence a few unknown
campaigns cannot give: at least ``MIN_404S_FOR_MISSING_ROUTE`` of them, a
clear majority of the calls answered, and not one success. Then syncing
stops, every record is kept, and the run fails with one line.
"""

from __future__ import annotations

import asyncio
import functools
import typing as t

import requests

from tap_mixoads.errors import AccountStoppedError
from tap_mixoads.extract.values import iso_datetime_or_none
from tap_mixoads.http.responses import decode_json
from tap_mixoads.sync.judge import SyncJudge
from tap_mixoads.sync.outcome import (
    DEFERRED,
    FAILED,
    NOT_FOUND,
    NOT_SYNCED,
    SUCCESS,
    SyncOutcome,
)
from tap_mixoads.sync.window import Window

if t.TYPE_CHECKING:
    import logging
    from collections.abc import (
        AsyncGenerator,
        AsyncIterable,
        Awaitable,
        Callable,
        Iterator,
    )

#: Records waiting for their sync per worker: enough for the list calls to run
#: ahead of the syncs and for the missing-route verdict (at least
#: ``MIN_404S_FOR_MISSING_ROUTE`` answers in the window), little enough that
#: a thousand accounts' windows stay small.
WINDOW_PER_WORKER = 4
#: Sends one campaign's sync call with the account's full policy (pace,
#: token, deadline, retries, classification) and returns the final answer,
#: or raises when the call failed for good; the callable is run once per
#: attempt. :meth:`tap_mixoads.http.api.AccountAPI.sync_campaign` is one.
SendFunc = t.Callable[[str, t.Callable[[], None]], "Awaitable[requests.Response]"]


class CampaignSyncer(SyncJudge):
    """Runs the sync calls concurrently and merges outcomes into records.

    Args:
        send: sends one campaign's sync call (see :data:`SendFunc`).
        concurrency: most sync calls in flight at once.
        logger: where progress and the summary go.
        label: names the account in log lines (``[client acme]``).
        breaker_threshold: see :class:`~tap_mixoads.sync.judge.SyncJudge`.
        gives_up: whether a failure asks to stop the account at once (a 429
            asking for a wait beyond ``max_rate_limit_wait``).
    """

    def __init__(
        self,
        *,
        send: SendFunc,
        concurrency: int,
        logger: logging.Logger,
        label: str = "",
        breaker_threshold: int = 0,
        gives_up: Callable[[BaseException], bool] | None = None,
    ) -> None:
        super().__init__(
            logger=logger, label=label, breaker_threshold=breaker_threshold
        )
        self._gives_up = gives_up or (lambda _exc: False)
        self.started = 0
        self._send = send
        self.concurrency = concurrency

    async def sync_one(self, campaign_id: str) -> SyncOutcome:
        """Sync one campaign; never raises, the outcome says what happened."""
        if self.stopped:
            return self._deferred()
        with self._lock:
            self.started += 1
        attempts = 0

        def count_attempt() -> None:
            nonlocal attempts
            attempts += 1

        try:
            response = await self._send(campaign_id, count_attempt)
        except Exception as exc:  # every failure becomes an outcome
            if self._gives_up(exc) or isinstance(exc, AccountStoppedError):
                # Not this campaign's fault: the account must stop (deferred,
                # so it neither counts towards the breaker nor towards dead).
                self._stop_rate_limited(exc)
                outcome = self._deferred()
                self._count(campaign_id, outcome)
                return outcome
            outcome = self._failure(campaign_id, exc, attempts)
        else:
            body = decode_json(response)
            ok = isinstance(body, dict) and body.get("success") is True
            outcome = SyncOutcome(
                status=SUCCESS if ok else FAILED,
                synced_at=iso_datetime_or_none(body["synced_at"]) if ok else None,
                http_status=response.status_code,
                error=None if ok else "sync answer did not report success",
                attempts=attempts,
            )
        self._count(campaign_id, outcome)
        return outcome

    async def sync_all(
        self,
        records: AsyncIterable[dict[str, t.Any]],
        *,
        should_sync: Callable[[str], bool] = lambda _cid: True,
        merge: Callable[[str, SyncOutcome], dict[str, t.Any]] | None = None,
        carried: Callable[[str], dict[str, t.Any]] | None = None,
    ) -> AsyncGenerator[dict[str, t.Any], None]:
        """Yield each record with its sync outcome merged in, as syncs finish.

        At most ``concurrency`` sync calls are in flight, each a task on the
        engine's loop (a task is started only when a place is free, so a
        thousand accounts hold a few thousand tasks, not one per waiting
        record), and at most ``concurrency * WINDOW_PER_WORKER`` records
        wait at once (for their sync, or for the verdict on a platform 404);
        when the window is full, the next finished sync frees a place,
        whichever it is.

        Args:
            records: the extracted campaigns.
            should_sync: whether a listed campaign gets a sync call in this run.
            merge: turns an outcome into the record's fields (the ledger's
                bookkeeping); default: the outcome as is.
            carried: the fields of a campaign not synced in this run.
        """
        window = max(1, self.concurrency * WINDOW_PER_WORKER)
        waiting = Window()
        self._merge = merge or (lambda _cid, outcome: outcome.as_fields())
        self._carried = carried or (lambda _cid: dict(NOT_SYNCED))
        interrupted = False
        try:
            try:
                async for record in records:
                    cid = record["id"]
                    if not should_sync(cid):
                        record.update(self._carried(cid))
                        yield record
                        continue
                    waiting.queued.append(record)
                    async for done in self._drain(waiting, keep=window - 1):
                        yield done
            except Exception:
                # The listing failed (a short read, a dead API): the records
                # already read still go out, and nothing more is synced.
                self._stop_for("the listing failed", log=False)
                async for done in self._drain(waiting, keep=0):
                    yield done
                raise
            async for done in self._drain(waiting, keep=0):
                yield done
        except BaseException as exc:
            # An interrupt (a cancellation, not GeneratorExit) must not wait
            # for calls: they may be waiting for their turn in the budget, a
            # minute or more at the vendor's pace, or mid-call. The process
            # exits at once and they send nothing more (the stop flag).
            interrupted = not isinstance(exc, (Exception, GeneratorExit))
            raise
        finally:
            waiting.queued.clear()  # never started: nothing was sent
            if interrupted:
                for task in waiting.syncing:
                    task.cancel()
            else:
                # Calls already under way finish (their answer is counted).
                await asyncio.gather(*waiting.syncing, return_exceptions=True)

    def _start(self, waiting: Window) -> None:
        """Start the queued records' syncs while fewer than ``concurrency`` run.

        Also called as each call ends, so the next one starts at once, even
        while nobody drains (the listing waiting out a retry, say).
        """
        running = sum(not task.done() for task in waiting.syncing)
        while waiting.queued and running < self.concurrency:
            record = waiting.queued.popleft()
            task = asyncio.create_task(self.sync_one(record["id"]))
            task.add_done_callback(functools.partial(self._ended, waiting))
            waiting.syncing[task] = record
            running += 1

    def _ended(self, waiting: Window, _task: asyncio.Task[SyncOutcome]) -> None:
        self._start(waiting)

    async def _drain(
        self, waiting: Window, *, keep: int
    ) -> AsyncGenerator[dict[str, t.Any], None]:
        """Yield finished records until at most ``keep`` wait.

        Finished syncs go out in the order they were listed among themselves;
        an unfinished one never holds a finished one back.
        """
        while True:
            self._start(waiting)
            for task in [f for f in waiting.syncing if f.done()]:
                record = waiting.syncing.pop(task)
                for done in self._finish(record, task, waiting):
                    yield done
            for done in self._judge_not_found(waiting):
                yield done
            if len(waiting) <= keep:
                return
            if not waiting.syncing:
                # The window holds only platform 404s and no verdict yet: no
                # evidence that these campaigns are gone, so they are kept.
                record, outcome = waiting.not_found.popleft()
                yield self._keep_not_found(record, outcome)
                continue
            await asyncio.wait(
                list(waiting.syncing), return_when=asyncio.FIRST_COMPLETED
            )

    def _finish(
        self,
        record: dict[str, t.Any],
        task: asyncio.Task[SyncOutcome],
        waiting: Window,
    ) -> Iterator[dict[str, t.Any]]:
        cid = record["id"]
        outcome = self._deferred() if task.cancelled() else task.result()
        if outcome.status == DEFERRED:
            # Counted here, not in _count: most deferrals never reach it
            # (a call not started once syncing stopped, a cancelled one).
            with self._lock:
                self.deferred += 1
        if outcome.status == NOT_FOUND:
            # Dropped only once the route is known to work: waits till then.
            waiting.not_found.append((record, outcome))
            return
        record.update(self._merge(cid, outcome))
        yield record

    def _judge_not_found(self, waiting: Window) -> Iterator[dict[str, t.Any]]:
        """Drop the waiting platform-404 records once a success proves the route.

        Once the route is judged missing instead, they are kept (as failed).
        """
        while waiting.not_found and (self.route_missing or self.succeeded > 0):
            record, outcome = waiting.not_found.popleft()
            if self.route_missing:
                yield self._keep_not_found(record, outcome)
            else:
                self._merge(record["id"], outcome)

    def _keep_not_found(
        self, record: dict[str, t.Any], outcome: SyncOutcome
    ) -> dict[str, t.Any]:
        kept = SyncOutcome(FAILED, http_status=404, error=outcome.error)
        record.update(self._merge(record["id"], kept))
        return record
