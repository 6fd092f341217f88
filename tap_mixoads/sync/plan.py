"""Which campaigns one account syncs in this run, and what its records carry.

``sync_mode`` decides:

- ``all``: every listed campaign except ``dead`` ones;
- ``failed``: the listed campaigns the ledger holds as failed or deferred (a
  re-run after a partial failure costs seconds; ``dead`` ones too when
  ``sync_retry_dead`` is on), and listed campaigns with no recorded outcome
  at all (no state, or an older one): emitting those unsynced would write
  nulls over the outcome the warehouse holds;
- ``changed``: the listed campaigns whose settings (``sync_change_fields``,
  by default name, status and budget) differ from those at their last
  successful sync, that never synced successfully, or whose last sync
  failed or was deferred (``dead`` ones stay as they are); an account where
  nothing changed costs only its list calls;
- ``none``: nothing (read-only); the campaigns SCHEMA then leaves the sync
  columns out altogether (see the tap's ``setup_mapper``), so the loader
  keeps what each row holds.

Only listed campaigns are ever synced. Once a listing is complete, the
campaigns the ledger knew and the listing no longer returns are marked
removed (see :meth:`Ledger.close_listing`); their failure entries are
dropped. A campaign not synced in this run is emitted with the outcome it
last had (see :mod:`tap_mixoads.sync.ledger`).
"""

from __future__ import annotations

import typing as t

from tap_mixoads.sync.change import DEFAULT_CHANGE_FIELDS, fingerprint
from tap_mixoads.sync.entries import Removal
from tap_mixoads.sync.ledger import Ledger
from tap_mixoads.sync.outcome import SyncOutcome
from tap_mixoads.sync.syncer import CampaignSyncer

if t.TYPE_CHECKING:
    import logging
    from collections.abc import AsyncGenerator, AsyncIterable, Callable, Mapping

    from tap_mixoads.config.settings import Settings
    from tap_mixoads.sync.syncer import SendFunc

ALL, FAILED_ONLY, CHANGED, NONE = "all", "failed", "changed", "none"


class AccountSync:
    """One account's sync for one run: the plan, the hook and the ledger.

    Args:
        mode: ``all``, ``failed``, ``changed`` or ``none``.
        prior_state: the account's state entry from the previous run.
        config: the tap's config (concurrency, breaker, give-up settings).
        send: sends one sync call with the account's full policy.
        gives_up: whether a failure stops the account at once (long 429).
        logger: the stream's logger.
        label: names the account in log lines.
    """

    def __init__(
        self,
        *,
        mode: str,
        prior_state: Mapping[str, t.Any],
        settings: Settings,
        send: SendFunc,
        gives_up: Callable[[BaseException], bool],
        logger: logging.Logger,
        label: str,
    ) -> None:
        self.mode = mode
        self.logger = logger
        self.label = label
        self.ledger = Ledger(
            prior_state,
            give_up_after_runs=settings.sync_give_up_after_runs,
        )
        self.retry_dead = settings.sync_retry_dead and mode == FAILED_ONLY
        #: With ``sync_mode: none`` the sync columns are out of the SCHEMA
        #: (deselected, see the tap's ``setup_mapper``): the SDK would only
        #: pop them off every record again.
        self.carry_outcomes = settings.sync_mode != NONE
        #: Ids of the campaigns this run's listing returned.
        self.listed: set[str] = set()
        #: Ledger entries dropped because the listing no longer returns them.
        self.stale_dropped = 0
        #: ``failed`` mode: campaigns synced because no outcome was known.
        self.unknown_synced = 0
        #: ``changed`` mode: campaigns not synced because nothing changed.
        self.unchanged = 0
        #: Campaigns this run's complete listing found gone (marked once).
        self.removals: list[Removal] = []
        #: The settings compared by ``changed`` (and fingerprinted always).
        self.change_fields = tuple(settings.sync_change_fields or DEFAULT_CHANGE_FIELDS)
        #: Fingerprints of the listed campaigns whose outcome is pending.
        self._fingerprints: dict[str, str] = {}
        self.syncer = CampaignSyncer(
            send=send,
            concurrency=settings.sync_concurrency,
            logger=logger,
            label=label,
            breaker_threshold=settings.sync_breaker_threshold,
            gives_up=gives_up,
        )

    async def run(
        self, records: AsyncIterable[dict[str, t.Any]]
    ) -> AsyncGenerator[dict[str, t.Any], None]:
        """Yield the records with their sync outcome (this run's or carried).

        Only campaigns this listing returns are synced, in the order they
        come: an id the ledger holds but the listing no longer returns is
        never called (it is marked removed once the listing is complete, see
        :meth:`close_listing`).
        """
        ledger = self.ledger
        fingerprints = self._fingerprints

        async def listed(
            records: AsyncIterable[dict[str, t.Any]],
        ) -> AsyncGenerator[dict[str, t.Any], None]:
            async for record in records:
                fingerprints[record["id"]] = self._note_listed(record)
                yield record

        if self.mode == NONE:  # no sync: nothing waits for a fingerprint
            async for record in records:
                self._note_listed(record)
                if self.carry_outcomes:
                    record.update(ledger.carried(record["id"]))
                yield record
            return
        retry = set(ledger.retry_ids(include_dead=self.retry_dead))

        def should_sync(campaign_id: str) -> bool:
            if self.mode == FAILED_ONLY:
                if campaign_id in retry:
                    return True
                if ledger.knows(campaign_id):
                    return False
                self._note_unknown_in_failed_mode()
                return True  # no known outcome: its row must not be nulled
            if ledger.is_dead(campaign_id):
                return False
            if self.mode == CHANGED and ledger.unchanged(
                campaign_id, fingerprints[campaign_id]
            ):
                self.unchanged += 1
                return False
            return True

        def carried(campaign_id: str) -> dict[str, t.Any]:
            fingerprints.pop(campaign_id, None)
            return ledger.carried(campaign_id)

        synced = self.syncer.sync_all(
            listed(records),
            should_sync=should_sync,
            merge=self._merge,
            carried=carried,
        )
        try:
            async for record in synced:
                yield record
        finally:
            await synced.aclose()

    def _note_listed(self, record: dict[str, t.Any]) -> str:
        """Note that the listing returned ``record``; its settings' fingerprint."""
        campaign_id = record["id"]
        print_ = fingerprint(record, self.change_fields)
        self.listed.add(campaign_id)
        self.ledger.listed(campaign_id, print_)
        return print_

    def _note_unknown_in_failed_mode(self) -> None:
        if self.unknown_synced == 0:
            self.logger.warning(
                "%ssync_mode failed: the state has no sync outcome for some "
                "listed campaigns (no or an older state); they are synced too, "
                "so that their rows keep a real outcome instead of nulls",
                self.label,
            )
        self.unknown_synced += 1

    def close_listing(self) -> list[Removal]:
        """Mark what this (complete) listing no longer returns as removed.

        Call only once every page was read: a short or failed listing says
        nothing about what is gone. Returns the new removals (each to be
        emitted once with ``removed_at``).
        """
        self.stale_dropped, self.removals = self.ledger.close_listing(self.listed)
        if self.removals:
            names = ", ".join(r.campaign_id for r in self.removals[:5])
            more = len(self.removals) - 5
            self.logger.info(
                "%s%d campaigns the account had are no longer listed, marked "
                "removed: %s%s",
                self.label,
                len(self.removals),
                names,
                f" and {more} more" if more > 0 else "",
            )
        return self.removals

    def release(self) -> None:
        """Let go of the campaigns once the ledger is in the state.

        The run report's figures (counts, removals, summary) stay.
        """
        self.ledger.forget_saved()
        self.listed = set()
        self._fingerprints = {}

    def _merge(self, campaign_id: str, outcome: SyncOutcome) -> dict[str, t.Any]:
        print_ = self._fingerprints.pop(campaign_id, None)
        return self.ledger.record(campaign_id, outcome, print_)

    def summary(self) -> str:
        """The hook's summary, plus what the ledger holds after the run."""
        line = self.syncer.summary()
        if self.mode == NONE:
            line = "sync_mode none: no sync call"
        elif self.mode == CHANGED:
            line += f"; unchanged (not synced): {self.unchanged}"
        if self.removals:
            line += f"; removed: {len(self.removals)}"
        held = self.ledger.counts()
        if held:
            parts = ", ".join(f"{n} {status}" for status, n in sorted(held.items()))
            line += f"; ledger holds {parts}"
        if self.ledger.became_dead:
            line += (
                f"; gave up on {', '.join(sorted(self.ledger.became_dead)[:10])} "
                "(sync_give_up_after_runs reached)"
            )
        return line
