"""The sync ledger: what a run remembers about syncs, kept in Singer state.

Per account, two small maps under the campaigns stream's state
(``accounts.<client_id>``):

- ``ledger``: the campaigns whose sync has not yet succeeded, each with the
  number of runs in which it failed, the last error, status and time. A
  campaign leaves it when a sync succeeds; after ``sync_give_up_after_runs``
  failing runs it is ``dead`` and is retried only by a ``sync_mode: failed``
  run with ``sync_retry_dead: true``. Breaker-deferred campaigns are kept as
  ``deferred`` (their failing-run count unchanged).
- ``synced``: for campaigns that synced fine, the last success's
  ``[synced_at, http_status, attempts]``.

Why carry the last outcome at all: target-postgres upserts every column of
the stream's schema, so a campaign emitted without a sync outcome would have
its ``sync_*`` columns overwritten with nulls. A campaign not synced in a run
(``sync_mode`` ``none`` or ``failed``, a tripped breaker, an account stopped
by a long 429) is therefore emitted with the outcome it last had, read from
here, and keeps its history in Postgres. The cost is a few dozen bytes of
state per campaign; the full history of attempts goes to the ``sync_events``
stream instead.
"""

from __future__ import annotations

import datetime
import typing as t

from tap_mixoads.sync.hook import (
    DEFERRED,
    FAILED,
    NOT_FOUND,
    NOT_SYNCED,
    SUCCESS,
    SyncOutcome,
)

if t.TYPE_CHECKING:
    from collections.abc import Mapping

DEAD = "dead"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class Ledger:
    """One account's sync memory, read from state and written back after a run.

    Args:
        state: the account's previous state entry (``{}`` on a first run).
        give_up_after_runs: failing runs before a campaign is ``dead``.
    """

    def __init__(self, state: Mapping[str, t.Any], *, give_up_after_runs: int) -> None:
        ledger = state.get("ledger")
        synced = state.get("synced")
        self.entries: dict[str, dict[str, t.Any]] = {
            str(k): dict(v)
            for k, v in (ledger.items() if isinstance(ledger, dict) else [])
            if isinstance(v, dict)
        }
        self.synced: dict[str, list[t.Any]] = {
            str(k): list(v)
            for k, v in (synced.items() if isinstance(synced, dict) else [])
            if isinstance(v, list) and len(v) == 3
        }
        self.give_up_after_runs = give_up_after_runs
        self.became_dead: list[str] = []

    def to_state(self) -> dict[str, t.Any]:
        """The account's state entry to save."""
        return {"ledger": self.entries, "synced": self.synced}

    def retry_ids(self, *, include_dead: bool) -> list[str]:
        """Campaigns to sync first (or only, in ``failed`` mode)."""
        return [
            cid
            for cid, entry in self.entries.items()
            if include_dead or entry.get("status") != DEAD
        ]

    def knows(self, campaign_id: str) -> bool:
        """Whether the ledger holds any outcome for this campaign."""
        return campaign_id in self.entries or campaign_id in self.synced

    def keep_only(self, listed: set[str]) -> int:
        """Forget campaigns not in ``listed``; return how many were forgotten."""
        stale = (self.entries.keys() | self.synced.keys()) - listed
        for campaign_id in stale:
            self.entries.pop(campaign_id, None)
            self.synced.pop(campaign_id, None)
        return len(stale)

    def is_dead(self, campaign_id: str) -> bool:
        """Whether automatic retries gave up on this campaign."""
        return self.entries.get(campaign_id, {}).get("status") == DEAD

    def carried(self, campaign_id: str) -> dict[str, t.Any]:
        """The outcome a campaign last had, for a run that does not sync it."""
        if not self.entries and not self.synced:
            return NOT_SYNCED  # read-only: callers merge it, never change it
        entry = self.entries.get(campaign_id)
        if entry is not None:
            return self._fields(entry)
        success = self.synced.get(campaign_id)
        if success is not None:
            synced_at, http_status, attempts = success
            return SyncOutcome(
                SUCCESS, synced_at=synced_at, http_status=http_status, attempts=attempts
            ).as_fields()
        return dict(NOT_SYNCED)

    @staticmethod
    def _fields(entry: Mapping[str, t.Any]) -> dict[str, t.Any]:
        return SyncOutcome(
            str(entry.get("status") or FAILED),
            http_status=entry.get("http_status"),
            error=entry.get("error"),
            attempts=int(entry.get("attempts") or 0),
        ).as_fields()

    def record(self, campaign_id: str, outcome: SyncOutcome) -> dict[str, t.Any]:
        """Fold this run's outcome in; return the fields to put on the record.

        A final failure counts one more failing run and may make the campaign
        ``dead``; a deferral keeps the count; a success or a platform 404
        (the campaign does not exist) removes it.
        """
        if outcome.status == SUCCESS:
            self.entries.pop(campaign_id, None)
            self.synced[campaign_id] = [
                outcome.synced_at,
                outcome.http_status,
                outcome.attempts,
            ]
            return outcome.as_fields()
        if outcome.status == NOT_FOUND:
            self.entries.pop(campaign_id, None)
            self.synced.pop(campaign_id, None)
            return outcome.as_fields()
        entry = self.entries.setdefault(campaign_id, {"runs": 0})
        self.synced.pop(campaign_id, None)
        if outcome.status == DEFERRED:
            if entry.get("status") not in {FAILED, DEAD}:
                entry["status"] = DEFERRED
            entry["error"] = outcome.error
            entry.setdefault("at", _now())
            return outcome.as_fields()
        entry["runs"] = int(entry.get("runs") or 0) + 1
        entry.update(
            status=FAILED,
            error=outcome.error,
            http_status=outcome.http_status,
            attempts=outcome.attempts,
            at=_now(),
        )
        if entry["runs"] >= self.give_up_after_runs:
            entry["status"] = DEAD
            entry["error"] = (
                f"gave up after {entry['runs']} failing runs; last: {outcome.error}"
            )
            self.became_dead.append(campaign_id)
        return self._fields(entry)

    def counts(self) -> dict[str, int]:
        """How many campaigns the ledger holds, by status."""
        out: dict[str, int] = {}
        for entry in self.entries.values():
            status = str(entry.get("status") or FAILED)
            out[status] = out.get(status, 0) + 1
        return out
