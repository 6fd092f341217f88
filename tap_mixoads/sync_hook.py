"""The post-extract hook: sync every extracted campaign on the platform.

``POST /api/campaigns/{id}/sync`` takes about 2 s and shares the vendor's
request budget with the list calls, so doing it one campaign at a time would
spend most of the run waiting for answers. The hook keeps up to
``sync_concurrency`` calls in flight on worker threads; the shared pacer (see
:mod:`tap_mixoads.ratelimit`) keeps the total within the budget, so the run
ends close to the floor the rate limit allows.

Records still come out in extraction order and one at a time: the hook holds
only a bounded window of records waiting for their sync, never the whole run.
A campaign whose sync fails after every retry is not dropped: its record is
emitted with the failure recorded, and the run ends with a summary line.
The one exception is a sync answered 404: the platform says that campaign
does not exist (the list endpoint can serve "phantom" campaigns past the end
of the list), so loading it would invent a row; it is dropped and counted.
"""

from __future__ import annotations

import collections
import logging
import threading
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote

import requests

from tap_mixoads.client import decode_json, describe
from tap_mixoads.records import iso_datetime_or_none

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

SYNC_PATH = "/api/campaigns/{id}/sync"
#: Records waiting for their sync per worker: enough for the list calls to run
#: ahead of the syncs, little enough to keep memory flat.
WINDOW_PER_WORKER = 8
#: Failed campaigns named in the summary line before it says "and N more".
MAX_NAMED_FAILURES = 20
#: Outcome of a sync answered 404: the campaign does not exist on the platform.
NOT_FOUND = "not_found"


@dataclass(frozen=True)
class SyncOutcome:
    """What happened to one campaign's sync, as it goes onto the record."""

    status: str
    synced_at: str | None = None
    http_status: int | None = None
    error: str | None = None
    attempts: int = 0

    def as_fields(self) -> dict[str, t.Any]:
        """The record fields this outcome fills in."""
        return {
            "sync_status": self.status,
            "synced_at": self.synced_at,
            "sync_http_status": self.http_status,
            "sync_error": self.error,
            "sync_attempts": self.attempts,
        }


#: Fields of a record when the hook is off.
NOT_SYNCED: dict[str, t.Any] = {
    "sync_status": None,
    "synced_at": None,
    "sync_http_status": None,
    "sync_error": None,
    "sync_attempts": None,
}


class CampaignSyncer:
    """Runs the sync calls concurrently and merges outcomes into records.

    Args:
        url_base: the API base URL.
        headers: headers for every call (``X-Client-ID``, ...).
        send: sends one prepared request with the stream's full policy
            (auth, pacing, timeout, retries) and returns the final response;
            raises when the call fails for good.
        concurrency: most sync calls in flight at once.
        logger: where progress and the summary go.
    """

    def __init__(
        self,
        *,
        url_base: str,
        headers: dict[str, str],
        send: Callable[
            [requests.PreparedRequest, Callable[[], None]], requests.Response
        ],
        concurrency: int,
        logger: logging.Logger,
    ) -> None:
        self._url_base = url_base
        self._headers = headers
        self._send = send
        self.concurrency = concurrency
        self.logger = logger
        self._lock = threading.Lock()
        self.succeeded = 0
        self.failures: list[tuple[str, str]] = []
        self.not_found: list[str] = []

    def sync_one(self, campaign_id: str) -> SyncOutcome:
        """Sync one campaign; never raises, the outcome says what happened."""
        url = self._url_base + SYNC_PATH.format(id=quote(campaign_id, safe=""))
        request = requests.Request(
            "POST", url, headers=self._headers, json={"campaign_id": campaign_id}
        ).prepare()
        attempts = 0

        def count_attempt() -> None:
            nonlocal attempts
            attempts += 1

        try:
            response = self._send(request, count_attempt)
        except Exception as exc:
            failed: requests.Response | None = getattr(exc, "response", None)
            status = failed.status_code if failed is not None else None
            reason = describe(failed) if failed is not None else _short(exc)
            outcome = SyncOutcome(
                status=NOT_FOUND if status == requests.codes.not_found else "failed",
                http_status=status,
                error=reason,
                attempts=attempts,
            )
        else:
            body = decode_json(response)
            ok = isinstance(body, dict) and body.get("success") is True
            outcome = SyncOutcome(
                status="success" if ok else "failed",
                synced_at=iso_datetime_or_none(body.get("synced_at")) if ok else None,
                http_status=response.status_code,
                error=None if ok else "sync answer did not report success",
                attempts=attempts,
            )
        with self._lock:
            if outcome.status == "success":
                self.succeeded += 1
            elif outcome.status == NOT_FOUND:
                self.not_found.append(campaign_id)
                self.logger.warning(
                    "%s was listed but its sync answered 404: the platform does "
                    "not know it, so its record is dropped",
                    campaign_id,
                )
            else:
                label = f"{outcome.http_status}" if outcome.http_status else "no answer"
                self.failures.append(
                    (campaign_id, f"{label} after {outcome.attempts} attempts")
                )
        return outcome

    def sync_all(
        self, records: Iterable[dict[str, t.Any]]
    ) -> Iterator[dict[str, t.Any]]:
        """Yield each record, in order, with its sync outcome merged in."""
        window = max(1, self.concurrency * WINDOW_PER_WORKER)
        pending: collections.deque[tuple[dict[str, t.Any], Future[SyncOutcome]]]
        pending = collections.deque()
        executor = ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="mixoads-sync"
        )
        try:
            for record in records:
                pending.append((record, executor.submit(self.sync_one, record["id"])))
                yield from self._drain(pending, keep=window - 1)
            yield from self._drain(pending, keep=0)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def _drain(
        self,
        pending: collections.deque[tuple[dict[str, t.Any], Future[SyncOutcome]]],
        *,
        keep: int,
    ) -> Iterator[dict[str, t.Any]]:
        """Yield finished records, oldest first, until ``keep`` remain."""
        while len(pending) > keep:
            merged = self._merge(*pending.popleft())
            if merged is not None:
                yield merged

    @staticmethod
    def _merge(
        record: dict[str, t.Any], future: Future[SyncOutcome]
    ) -> dict[str, t.Any] | None:
        outcome = future.result()
        if outcome.status == NOT_FOUND:
            return None
        record.update(outcome.as_fields())
        return record

    def summary(self) -> str:
        """One line: how many synced, and which failed and why."""
        total = self.succeeded + len(self.failures)
        line = f"synced {self.succeeded}/{total}"
        if self.failures:
            named = ", ".join(
                f"{cid} ({why})"
                for cid, why in sorted(self.failures)[:MAX_NAMED_FAILURES]
            )
            more = len(self.failures) - MAX_NAMED_FAILURES
            line += f"; failed: {named}" + (f" and {more} more" if more > 0 else "")
        if self.not_found:
            line += (
                f"; dropped {len(self.not_found)} listed campaigns the platform "
                f"does not know (404): {', '.join(sorted(self.not_found)[:5])}"
            )
        return line


def _short(exc: BaseException) -> str:
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer within the timeout"
    if isinstance(exc, requests.exceptions.RequestException):
        return f"connection failed ({type(exc).__name__})"
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.splitlines()[0][:200]
