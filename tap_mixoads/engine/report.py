"""What one account's run did: its closing line, its progress, its run report.

Figures only: the counters live where the work happens (the client's call
statistics, the syncer, the paginator); the report reads them.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
import typing as t

from tap_mixoads.http.endpoints import SYNC_PATH
from tap_mixoads.http.stats import NO_ANSWER

if t.TYPE_CHECKING:
    from tap_mixoads.config.accounts import Account
    from tap_mixoads.http.client import AccountClient


class SyncLike(t.Protocol):
    """What the report reads from an account's sync (the layer above)."""

    ledger: t.Any
    syncer: t.Any
    mode: str
    stale_dropped: int
    unchanged: int
    removals: list[t.Any]

    def summary(self) -> str:
        """The sync's one-line summary."""
        ...

    def release(self) -> None:
        """Let go of the campaigns once the ledger is in the state."""
        ...


@dataclasses.dataclass
class AccountReport:
    """What one account's run did: its closing line, progress and run report."""

    account: Account
    client: AccountClient
    run_id: str
    extracted: int = 0
    sync: SyncLike | None = None
    paginator_of: t.Callable[[], t.Any] = lambda: None
    started_at: float = dataclasses.field(default_factory=time.time)
    ended_at: float | None = None
    _started_mono: float = dataclasses.field(default_factory=time.monotonic)
    _ended_mono: float | None = None
    #: How many of the syncer's events are already in ``RunContext.sync_events``.

    def finish(self) -> None:
        """Note the account's end (once)."""
        if self.ended_at is None:
            self.ended_at = time.time()
            self._ended_mono = time.monotonic()

    @property
    def wall_seconds(self) -> float:
        """Seconds from the account's start to its end (or now)."""
        end = self._ended_mono if self._ended_mono is not None else time.monotonic()
        return end - self._started_mono

    def summary_line(self) -> str:
        """``100 campaigns, synced 98/100 (...); 203 calls, 0 x 429, 1 retry``."""
        stats = self.client.stats
        line = f"{self.extracted} campaigns"
        if self.sync is not None:
            line += f", {self.sync.summary()}"
        return (
            f"{line}; {stats.total()} calls, {stats.with_status(429)} x 429, "
            f"{stats.retries} retries, {self.client.token.tokens_obtained} tokens"
        )

    def progress_line(self) -> str:
        """``listed 100/100, synced 40/100 (1 failed), about 6 min left ...``."""
        paginator = self.paginator_of()
        listed = getattr(paginator, "received", 0)
        total = getattr(paginator, "max_total", None)
        line = f"listed {listed}/{total if total is not None else '?'}"
        rpm = self.account.requests_per_minute
        remaining_calls = 0
        if paginator is not None and total is not None and listed < total:
            per_page = max(1, getattr(paginator, "page_size", 100))
            remaining_calls += -(-(total - listed) // per_page)
        if self.sync is not None and self.sync.mode != "none":
            syncer = self.sync.syncer
            done = syncer.succeeded + len(syncer.failures)
            target = total if total is not None else listed
            line += f", synced {syncer.succeeded}/{target}"
            if syncer.failures:
                line += f" ({len(syncer.failures)} failed)"
            if not syncer.stopped:
                remaining_calls += max(0, target - done)
        if total is None:
            # Nothing listed yet (the first page keeps failing, say): any
            # estimate would be a guess, and "about 0 s left" a wrong one.
            return f"{line}, time left not known until a page is read"
        minutes = remaining_calls / rpm if rpm else 0.0
        left = f"{minutes:.0f} min" if minutes >= 1 else f"{minutes * 60:.0f} s"
        return f"{line}, about {left} left at {rpm:g} calls/min"

    def as_record(self) -> dict[str, t.Any]:
        """The ``sync_runs`` record (and the JSON of the run-report line)."""
        stats = self.client.stats
        api_calls = stats.total(prefix="GET /api") + stats.total(prefix="POST /api")
        rpm = self.account.requests_per_minute
        floor = api_calls * 60 / rpm if rpm else 0.0
        syncer = self.sync.syncer if self.sync is not None else None
        held = self.sync.ledger.counts() if self.sync is not None else {}
        wall = self.wall_seconds
        return {
            "run_id": self.run_id,
            "client_id": self.account.client_id,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at or time.time()),
            "campaigns": self.extracted,
            "synced": syncer.succeeded if syncer else 0,
            "failed": len(syncer.failures) if syncer else 0,
            "deferred": syncer.deferred if syncer else 0,
            "dead": held.get("dead", 0),
            "stale_dropped": self.sync.stale_dropped if self.sync is not None else 0,
            "unchanged": self.sync.unchanged if self.sync is not None else 0,
            "removed": len(self.sync.removals) if self.sync is not None else 0,
            "sync_unanswered": stats.count_of(f"POST {SYNC_PATH}", NO_ANSWER),
            "calls": stats.by_endpoint(),
            "api_calls": api_calls,
            "rate_limited": stats.with_status(429),
            "retries": stats.retries,
            "tokens_issued": self.client.token.tokens_obtained,
            "floor_seconds": round(floor, 3),
            "wall_seconds": round(wall, 3),
            "floor_ratio": round(wall / floor, 3) if floor else None,
        }


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc).isoformat()
