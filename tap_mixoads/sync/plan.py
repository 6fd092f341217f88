"""Which campaigns one account syncs in this run, and what its records carry.

``sync_mode`` decides:

- ``all``: every extracted campaign, the ledger's earlier failures first
  (their calls start before the listing reaches them); ``dead`` campaigns
  are not retried;
- ``failed``: only the campaigns the ledger holds (a re-run after a partial
  failure costs seconds); ``dead`` ones too when ``sync_retry_dead`` is on;
- ``none``: nothing (read-only; also ``sync_enabled: false``).

A campaign not synced in this run is emitted with the outcome it last had
(see :mod:`tap_mixoads.sync.ledger`), so a read-only or targeted run never
erases a row's sync history.
"""

from __future__ import annotations

import typing as t

from tap_mixoads.sync.hook import CampaignSyncer, SyncOutcome
from tap_mixoads.sync.ledger import Ledger

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from tap_mixoads.sync.hook import SendFunc

ALL, FAILED_ONLY, NONE = "all", "failed", "none"


class AccountSync:
    """One account's sync for one run: the plan, the hook and the ledger.

    Args:
        mode: ``all``, ``failed`` or ``none``.
        prior_state: the account's state entry from the previous run.
        config: the tap's config (concurrency, breaker, give-up settings).
        url_base: the API base URL.
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
        config: Mapping[str, t.Any],
        url_base: str,
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
            give_up_after_runs=int(config.get("sync_give_up_after_runs") or 5),
        )
        self.retry_dead = bool(config.get("sync_retry_dead")) and mode == FAILED_ONLY
        self.syncer = CampaignSyncer(
            url_base=url_base,
            send=send,
            concurrency=int(config.get("sync_concurrency") or 4),
            logger=logger,
            label=label,
            breaker_threshold=int(config.get("sync_breaker_threshold") or 5),
            gives_up=gives_up,
        )

    def run(self, records: Iterable[dict[str, t.Any]]) -> Iterator[dict[str, t.Any]]:
        """Yield the records with their sync outcome (this run's or carried)."""
        if self.mode == NONE:
            for record in records:
                record.update(self.ledger.carried(record["id"]))
                yield record
            return
        first = self.ledger.retry_ids(include_dead=self.retry_dead)
        if first:
            self.logger.info(
                "%sretrying %d campaigns whose sync failed in earlier runs first",
                self.label,
                len(first),
            )
        retry = set(first)
        ledger = self.ledger

        def should_sync(campaign_id: str) -> bool:
            if self.mode == FAILED_ONLY:
                return campaign_id in retry
            return not ledger.is_dead(campaign_id)

        yield from self.syncer.sync_all(
            records,
            first=first,
            should_sync=should_sync,
            merge=self._merge,
            carried=ledger.carried,
        )

    def _merge(self, campaign_id: str, outcome: SyncOutcome) -> dict[str, t.Any]:
        return self.ledger.record(campaign_id, outcome)

    def summary(self) -> str:
        """The hook's summary, plus what the ledger holds after the run."""
        line = self.syncer.summary()
        if self.mode == NONE:
            line = "sync_mode none: no sync call"
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
