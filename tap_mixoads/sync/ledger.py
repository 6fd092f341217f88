"""The sync ledger: what a run remembers about syncs, kept in Singer state.

Per account, small maps under the campaigns stream's state
(``accounts.<client_id>``):

- ``ledger``: the campaigns whose sync has not yet succeeded, each with the
  number of runs in which it failed, the last error, status and time. A
  campaign leaves it when a sync succeeds; after ``sync_give_up_after_runs``
  failing runs it is ``dead`` and is retried only by a ``sync_mode: failed``
  run with ``sync_retry_dead: true``. Breaker-deferred campaigns are kept as
  ``deferred`` (their failing-run count unchanged).
- ``synced``: for campaigns that synced fine, the last success, packed into
  one short string (:class:`~tap_mixoads.sync.entries.Success`): the
  fingerprint of the campaign's settings at that sync (see
  :mod:`tap_mixoads.sync.change`), the platform's ``synced_at`` as
  microseconds since the epoch in base 36, and the attempts
  and HTTP status when they are not 1 and 200. About 35 bytes per campaign
  with its id, so 100,000 campaigns keep to 4 MB of state.
- ``seen`` (only when needed): listed campaigns with no outcome at all (a
  ``sync_mode: none`` run), by fingerprint, so that the tap knows them.
- ``removed`` (only when needed): campaigns a complete listing stopped
  returning, with when the tap first saw them missing (epoch seconds). The
  campaign's row is marked once (``removed_at``); if it comes back it leaves
  this map, and its ``synced`` entry decides whether it is synced. A mark is
  forgotten after ``REMOVED_KEPT_DAYS``.

Why carry the last outcome at all: target-postgres upserts every column of
the stream's schema, so a campaign emitted without a sync outcome would have
its ``sync_*`` columns overwritten with nulls. A campaign not synced in a run
(``sync_mode`` ``none``, ``failed`` or ``changed``, a tripped breaker, an
account stopped by a long 429) is therefore emitted with the outcome it last
had, read from here, and keeps its history in Postgres. The full history of
attempts goes to the ``sync_events`` stream instead.
"""

from __future__ import annotations

import datetime
import time
import typing as t

from tap_mixoads.sync.entries import Removal, Success
from tap_mixoads.sync.outcome import (
    DEFERRED,
    FAILED,
    NOT_FOUND,
    NOT_SYNCED,
    SUCCESS,
    SyncOutcome,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

DEAD = "dead"
#: Days a removal mark is kept: a campaign gone that long is forgotten (its
#: row keeps ``removed_at``; if it ever came back it would be synced anew).
REMOVED_KEPT_DAYS = 90


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
        seen = state.get("seen")
        removed = state.get("removed")
        self.entries: dict[str, dict[str, t.Any]] = {
            str(k): dict(v)
            for k, v in (ledger.items() if isinstance(ledger, dict) else [])
            if isinstance(v, dict)
        }
        self.synced: dict[str, Success] = {}
        for k, v in synced.items() if isinstance(synced, dict) else []:
            try:
                self.synced[str(k)] = Success.from_state(v)
            except (ValueError, TypeError):
                continue  # state.py has named and dropped it already
        self.seen: dict[str, str] = {
            str(k): v
            for k, v in (seen.items() if isinstance(seen, dict) else [])
            if isinstance(v, str)
        }
        self.removed: dict[str, int] = {
            str(k): v
            for k, v in (removed.items() if isinstance(removed, dict) else [])
            if isinstance(v, int) and not isinstance(v, bool)
        }
        self.give_up_after_runs = give_up_after_runs
        self.became_dead: list[str] = []

    def to_state(self) -> dict[str, t.Any]:
        """The account's state entry to save."""
        state: dict[str, t.Any] = {
            "ledger": self.entries,
            "synced": {cid: s.to_state() for cid, s in self.synced.items()},
        }
        if self.seen:
            state["seen"] = self.seen
        if self.removed:
            state["removed"] = self.removed
        return state

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

    def is_dead(self, campaign_id: str) -> bool:
        """Whether automatic retries gave up on this campaign."""
        return self.entries.get(campaign_id, {}).get("status") == DEAD

    def unchanged(self, campaign_id: str, fingerprint: str) -> bool:
        """Whether the campaign synced fine last time with these very settings.

        False when it never synced successfully (or the state predates
        fingerprints), or when its last sync failed or was deferred.
        """
        if campaign_id in self.entries:
            return False
        success = self.synced.get(campaign_id)
        return success is not None and success.fingerprint == fingerprint

    def listed(self, campaign_id: str, fingerprint: str) -> None:
        """Note that the listing returned this campaign (and its settings).

        A campaign that was marked removed is back; one with no outcome at
        all is remembered by fingerprint, so that the tap knows it.
        """
        self.removed.pop(campaign_id, None)
        if campaign_id not in self.entries and campaign_id not in self.synced:
            self.seen[campaign_id] = fingerprint

    def carried(self, campaign_id: str) -> dict[str, t.Any]:
        """The outcome a campaign last had, for a run that does not sync it."""
        if not self.entries and not self.synced:
            return NOT_SYNCED  # read-only: callers merge it, never change it
        entry = self.entries.get(campaign_id)
        if entry is not None:
            return self._fields(entry)
        success = self.synced.get(campaign_id)
        if success is not None:
            return success.outcome().as_fields()
        return dict(NOT_SYNCED)

    @staticmethod
    def _fields(entry: Mapping[str, t.Any]) -> dict[str, t.Any]:
        return SyncOutcome(
            str(entry.get("status") or FAILED),
            http_status=entry.get("http_status"),
            error=entry.get("error"),
            attempts=int(entry.get("attempts") or 0),
        ).as_fields()

    def record(
        self, campaign_id: str, outcome: SyncOutcome, fingerprint: str | None = None
    ) -> dict[str, t.Any]:
        """Fold this run's outcome in; return the fields to put on the record.

        A success keeps the fingerprint of the settings it synced. A final
        failure counts one more failing run and may make the campaign
        ``dead``; a deferral keeps the count; a success or a platform 404
        (the campaign does not exist) removes it.
        """
        self.seen.pop(campaign_id, None)
        if outcome.status == SUCCESS:
            self.entries.pop(campaign_id, None)
            self.synced[campaign_id] = Success(
                outcome.synced_at, outcome.http_status, outcome.attempts, fingerprint
            )
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

    def close_listing(
        self, listed: Iterable[str], *, now: float | None = None
    ) -> tuple[int, list[Removal]]:
        """After a complete listing: mark what it no longer returns as removed.

        Call only once every page was read: a short or failed listing says
        nothing about what is gone. A campaign the ledger knew (synced,
        failed, seen) and the listing lacks is marked removed once, now; its
        failure entry is dropped (it cannot be synced), its last success is
        kept (if it comes back unchanged it needs no sync). Marks older than
        ``REMOVED_KEPT_DAYS`` are forgotten.

        Returns:
            How many failure entries were dropped, and the new removals.
        """
        now = time.time() if now is None else now
        listed = set(listed)
        known = self.entries.keys() | self.synced.keys() | self.seen.keys()
        gone = sorted(known - listed - self.removed.keys())
        removed_at = datetime.datetime.fromtimestamp(int(now), datetime.timezone.utc)
        dropped = 0
        for campaign_id in gone:
            dropped += self.entries.pop(campaign_id, None) is not None
            self.seen.pop(campaign_id, None)
            self.removed[campaign_id] = int(now)
        horizon = now - REMOVED_KEPT_DAYS * 86400
        for campaign_id, at in list(self.removed.items()):
            if at < horizon:
                del self.removed[campaign_id]
                self.synced.pop(campaign_id, None)
        when = removed_at.isoformat()
        return dropped, [Removal(cid, when) for cid in gone]

    def forget_saved(self) -> None:
        """Drop what only the saved state needs: successes, sightings, removals.

        Once :meth:`to_state` went into the state, the run asks only for
        :meth:`counts` (failures) and ``became_dead``; with a thousand
        accounts, the successes are most of what the run would hold.
        """
        self.synced = {}
        self.seen = {}
        self.removed = {}

    def counts(self) -> dict[str, int]:
        """How many campaigns the ledger holds, by status."""
        out: dict[str, int] = {}
        for entry in self.entries.values():
            status = str(entry.get("status") or FAILED)
            out[status] = out.get(status, 0) + 1
        return out
