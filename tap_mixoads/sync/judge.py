"""One account's sync verdicts: counts, the breaker and the missing route.

Pure bookkeeping, no I/O: it turns each finished call into an outcome and
counts it, and decides when syncing stops for the rest of the run: the
breaker (``breaker_threshold`` failures in a row), a 429 or budget that
stops the account, or a sync route that is missing (a 404 that is not the
platform's at once; platform 404s only from evidence a few unknown campaigns
cannot give: at least ``MIN_404S_FOR_MISSING_ROUTE`` of them, a clear
majority of the calls answered, and not one success). How the calls are run
(threads, a window of records) is :mod:`tap_mixoads.sync.syncer`.
"""

from __future__ import annotations

import datetime
import re
import threading
import typing as t

import requests

from tap_mixoads.errors import AccountStoppedError
from tap_mixoads.http.endpoints import SYNC_PATH
from tap_mixoads.http.responses import (
    describe,
    describe_failure,
    final_failure,
    is_platform_error,
    printable,
)
from tap_mixoads.sync.outcome import (
    DEFERRED,
    FAILED,
    NOT_FOUND,
    SUCCESS,
    SyncOutcome,
)

if t.TYPE_CHECKING:
    import logging

#: Failed campaigns named in the summary line before it says "and N more".
MAX_NAMED_FAILURES = 20
#: Platform 404s needed (with no success) before they mean a missing route:
#: more than a few campaigns deleted since the listing (the head of a list).
MIN_404S_FOR_MISSING_ROUTE = 10
#: Share of the answered calls that platform 404s must reach for that.
MISSING_ROUTE_SHARE = 2 / 3
#: Longest error text stored in ``sync_error``.
MAX_ERROR_CHARS = 500


def now_iso() -> str:
    """The time now, as the ``at`` of a sync event."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def campaign_order(campaign_id: str) -> tuple[str, int, str]:
    """Sort key: ``campaign_7`` before ``campaign_42`` (numbers as numbers)."""
    match = re.match(r"^(.*?)(\d+)$", campaign_id)
    if match is None:
        return (campaign_id, -1, "")
    return (match.group(1), int(match.group(2)), campaign_id)


def plural(n: int, word: str) -> str:
    """``1 attempt``, ``2 attempts``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class SyncJudge:
    """The verdicts of one account's sync calls in one run.

    Args:
        logger: where the verdicts that stop syncing are said.
        label: names the account in log lines (``[client acme]``).
        breaker_threshold: campaigns in a row whose sync failed for good
            before syncing stops for the rest of the run (the breaker).
    """

    def __init__(
        self,
        *,
        logger: logging.Logger,
        label: str = "",
        breaker_threshold: int = 0,
    ) -> None:
        self.logger = logger
        self.label = label
        self.breaker_threshold = breaker_threshold
        self._lock = threading.Lock()
        self._failed_in_a_row = 0
        self.breaker_open: str | None = None
        self.rate_limit_stop: str | None = None
        self.route_missing: str | None = None
        #: Each final outcome: (campaign id, outcome, when it was final).
        self.events: list[tuple[str, SyncOutcome, str]] = []
        self.succeeded = 0
        self.failures: list[tuple[str, str]] = []
        self.not_found: list[str] = []
        self.deferred = 0
        self.calls = 0

    @property
    def stopped(self) -> bool:
        """Whether syncing stopped for the rest of the run."""
        return self.stop_reason is not None

    @property
    def stop_reason(self) -> str | None:
        """Why syncing stopped (missing route, breaker, long 429), or None."""
        return self.route_missing or self.rate_limit_stop or self.breaker_open

    def _failure(self, campaign_id: str, exc: Exception, attempts: int) -> SyncOutcome:
        failed: requests.Response | None = getattr(exc, "response", None)
        status = failed.status_code if failed is not None else None
        reason = describe(failed) if failed is not None else describe_failure(exc)
        if status == requests.codes.not_found:
            assert failed is not None
            if not is_platform_error(failed):
                self._stop_route(f"{reason}, not the platform's answer")
                return self._deferred()
            return SyncOutcome(NOT_FOUND, http_status=status, error=reason)
        return SyncOutcome(
            status=FAILED,
            http_status=status,
            error=printable(reason)[:MAX_ERROR_CHARS],
            attempts=attempts,
        )

    def _deferred(self) -> SyncOutcome:
        return SyncOutcome(DEFERRED, error=f"deferred: {self.stop_reason}")

    def _stop_route(self, why: str) -> None:
        with self._lock:
            if self.route_missing is None:
                self.route_missing = f"the sync endpoint is missing ({why})"
                self.logger.error(
                    "%sPOST %s: %s; syncing stops, every record is kept",
                    self.label,
                    SYNC_PATH,
                    self.route_missing,
                )

    def _stop_rate_limited(self, exc: Exception) -> None:
        with self._lock:
            if self.rate_limit_stop is not None:
                return
            self.rate_limit_stop = (
                final_failure(exc)  # the budget's line names its setting
                if isinstance(exc, AccountStoppedError)
                else f"{final_failure(exc)}, more than max_rate_limit_wait"
            )
        self.logger.error(
            "%s%s; no more sync calls for this account in this run, the rest "
            "are loaded as deferred",
            self.label,
            self.rate_limit_stop,
        )

    def _count(self, campaign_id: str, outcome: SyncOutcome) -> None:
        with self._lock:
            self.calls += outcome.attempts
            if outcome.status != DEFERRED:
                self.events.append((campaign_id, outcome, now_iso()))
            if outcome.status == FAILED:
                self._failed_in_a_row += 1
                self._maybe_trip()
            elif outcome.status == SUCCESS:
                self._failed_in_a_row = 0
            # A deferral is counted when its record is emitted (see _drain).
            if outcome.status == SUCCESS:
                self.succeeded += 1
            elif outcome.status == NOT_FOUND:
                self.not_found.append(campaign_id)
            elif outcome.status != DEFERRED:
                label = f"{outcome.http_status}" if outcome.http_status else "no answer"
                tries = plural(outcome.attempts, "attempt")
                self.failures.append((campaign_id, f"{label} after {tries}"))
            missing = len(self.not_found)
        if outcome.status == NOT_FOUND:
            if self._route_looks_missing():
                self._stop_route(
                    f"{missing} of {self._answered()} campaigns answered the "
                    "platform's 404 and none synced"
                )
            else:
                self.logger.warning(
                    "%s%s was listed but its sync answered the platform's 404: it "
                    "does not exist there, so its record is dropped (unless the "
                    "sync route turns out to be missing)",
                    self.label,
                    campaign_id,
                )

    def _answered(self) -> int:
        return self.succeeded + len(self.failures) + len(self.not_found)

    def _route_looks_missing(self) -> bool:
        """Whether platform 404s are evidence against the route, not campaigns.

        A success proves the route; a few 404s (campaigns deleted since the
        listing, often the first ones) prove nothing about it.
        """
        missing = len(self.not_found)
        return (
            self.succeeded == 0
            and missing >= MIN_404S_FOR_MISSING_ROUTE
            and missing >= MISSING_ROUTE_SHARE * self._answered()
        )

    def _maybe_trip(self) -> None:
        """Open the breaker after ``breaker_threshold`` failures in a row."""
        if (
            self.breaker_threshold
            and self.breaker_open is None
            and self._failed_in_a_row >= self.breaker_threshold
        ):
            self.breaker_open = (
                f"the breaker opened after {self._failed_in_a_row} campaigns in a "
                "row failed to sync"
            )
            self.logger.error(
                "%sPOST %s: %s; no more sync calls in this run, the remaining "
                "campaigns are loaded as deferred and retried next run",
                self.label,
                SYNC_PATH,
                self.breaker_open,
            )

    def _stop_for(self, why: str, *, log: bool = True) -> None:
        with self._lock:
            if self.breaker_open is None:
                self.breaker_open = why
        if log:
            self.logger.error("%s%s", self.label, why)

    def summary(self) -> str:
        """One line: how many synced, and which failed and why."""
        total = self.succeeded + len(self.failures)
        line = f"synced {self.succeeded}/{total}"
        if self.failures:
            ordered = sorted(self.failures, key=lambda f: campaign_order(f[0]))
            named = ", ".join(
                f"{cid} ({why})" for cid, why in ordered[:MAX_NAMED_FAILURES]
            )
            more = len(self.failures) - MAX_NAMED_FAILURES
            line += f"; failed: {named}" + (f" and {more} more" if more > 0 else "")
        if self.deferred:
            line += f"; deferred: {self.deferred}"
        if self.not_found and not self.stopped:
            names = sorted(self.not_found, key=campaign_order)[:5]
            line += (
                f"; dropped {plural(len(self.not_found), 'listed campaign')} the "
                f"platform does not know (404): {', '.join(names)}"
            )
        return line
