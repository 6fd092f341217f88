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
"""

from __future__ import annotations

import collections
import datetime
import logging
import threading
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote

import requests

from tap_mixoads.client import decode_json, describe

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

SYNC_PATH = "/api/campaigns/{id}/sync"
#: Records waiting for their sync per worker: enough for the list calls to run
#: ahead of the syncs, little enough to keep memory flat.
WINDOW_PER_WORKER = 8
#: Failed campaigns named in the summary line before it says "and N more".
MAX_NAMED_FAILURES = 20


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


def _iso_or_none(value: t.Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value


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
                status="failed",
                http_status=status,
                error=reason,
                attempts=attempts,
            )
        else:
            body = decode_json(response)
            ok = isinstance(body, dict) and body.get("success") is True
            outcome = SyncOutcome(
                status="success" if ok else "failed",
                synced_at=_iso_or_none(body.get("synced_at")) if ok else None,
                http_status=response.status_code,
                error=None if ok else "sync answer did not report success",
                attempts=attempts,
            )
        with self._lock:
            if outcome.status == "success":
                self.succeeded += 1
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
                while len(pending) >= window:
                    yield self._merge(*pending.popleft())
            while pending:
                yield self._merge(*pending.popleft())
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _merge(
        record: dict[str, t.Any], future: Future[SyncOutcome]
    ) -> dict[str, t.Any]:
        record.update(future.result().as_fields())
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
        return line


def _short(exc: BaseException) -> str:
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer within the timeout"
    if isinstance(exc, requests.exceptions.RequestException):
        return f"connection failed ({type(exc).__name__})"
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.splitlines()[0][:200]
