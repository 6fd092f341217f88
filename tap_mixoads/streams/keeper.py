"""What the campaigns stream keeps as it drains: ledgers in state, sync events out.

Everything here runs on the thread that writes messages (the SDK's), so the
SDK never serialises the state while another thread edits it: as each
account finishes (:meth:`StateKeeper.account_done`), between hand-over
batches (:meth:`StateKeeper.between_batches`) and when the campaigns end
(:meth:`StateKeeper.save_finished`).
"""

from __future__ import annotations

import os
import time
import typing as t

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

    from tap_mixoads.config.accounts import Account
    from tap_mixoads.engine.report import AccountReport
    from tap_mixoads.engine.run import RunContext
    from tap_mixoads.streams.run_streams import SyncEventsStream

#: Seconds between two saves of finished accounts' ledgers into the state.
STATE_EVERY_S = 60.0
#: Seconds between two flushes of the sync events gathered so far
#: (``MIXOADS_EVENTS_FLUSH_SECONDS`` in the environment overrides it).
EVENTS_FLUSH_S = 5.0


class StateKeeper:
    """The campaigns stream's state (each account's ledger) and its sync events.

    Args:
        stream: the campaigns stream, whose state holds the ledgers.
        run: the run (its streams, reports, mode and sync events).
        events: the stream that the run's sync events go to, flushed as they
            come; None when the tap has none.
    """

    def __init__(
        self, stream: Stream, run: RunContext, events: SyncEventsStream | None
    ) -> None:
        self.stream = stream
        self.run = run
        self.events = events
        self._events_flushed_at = time.monotonic()
        #: Finished accounts whose ledger is not in the state yet.
        self._finished: list[AccountReport] = []
        #: When the oldest account in ``_finished`` finished.
        self._finished_since = 0.0
        self.events_flush_s = float(
            os.environ.get("MIXOADS_EVENTS_FLUSH_SECONDS") or EVENTS_FLUSH_S
        )

    def claim_state_entries(self) -> None:
        """Give the selected run streams their (empty) state entries now.

        The SDK creates a stream's entry when that stream first writes its
        state, and writes the whole tap state (every account's ledger: MBs
        for a fleet) whenever it changed. The run streams sync after the
        campaigns, so their empty entries would each cost one more copy of
        the whole state at the end; created here, they ride in the first.
        """
        later = [s for s in self.run.streams if s is not self.stream and s.selected]
        # All but the last: its new entry makes the SDK write the final
        # STATE after its records, so that a STATE is the last message.
        for stream in later[:-1]:
            _ = stream.stream_state  # the SDK's public accessor creates it

    def between_batches(self) -> None:
        """Save what is due: the finished accounts' ledgers, the sync events."""
        now = time.monotonic()
        if self._finished and now - self._finished_since >= STATE_EVERY_S:
            self.save_finished()
        if (
            self.run.mode.changes_things
            and now - self._events_flushed_at >= self.events_flush_s
        ):
            self._flush_events()

    def prior_state(self, account: Account) -> dict[str, t.Any]:
        """The account's entry in the stream's state (read before any thread)."""
        accounts = self.stream.get_context_state(None).get("accounts")
        entry = accounts.get(account.client_id) if isinstance(accounts, dict) else None
        return dict(entry) if isinstance(entry, dict) else {}

    def account_done(self, account: Account) -> None:
        """Queue the account's ledger for the stream's state (this thread only).

        Called on the thread that writes messages, once the account is done,
        so the SDK never serialises the state while another thread edits it.
        The finished accounts go into the state together, once the oldest
        of them has waited ``STATE_EVERY_S`` (checked between hand-over
        batches) and once more when the campaigns end: the SDK writes a
        STATE message (the whole state: 3.5 MB for 1,000 accounts) at its
        next 10,000th record whenever the state changed, and a thousand
        accounts finishing one by one near the end would each have changed
        it. A run that stops early still saves every account finished a
        minute before.
        """
        report = self.run.reports.get(account.client_id)
        if report is None or report.sync is None:
            return
        if not self._finished:
            self._finished_since = time.monotonic()
        self._finished.append(report)
        self._take_events(report)

    def save_finished(self) -> None:
        """Put the finished accounts' ledgers into the stream's state."""
        if not self._finished:
            return
        state = self.stream.get_context_state(None)
        accounts = state.setdefault("accounts", {})
        for report in self._finished:
            assert report.sync is not None
            accounts[report.account.client_id] = report.sync.ledger.to_state()
            report.sync.release()
        self._finished.clear()

    def _take_events(self, report: AccountReport) -> None:
        """Move the account's final sync outcomes so far to ``sync_events``.

        The account's sync calls append to the syncer's list (on the
        engine's loop); this, on the thread that writes messages, takes what
        is there and removes it from the list, so that no outcome is held
        twice or for the whole run (with the events stream not selected,
        they are only dropped).
        """
        if report.sync is None:
            return
        events = report.sync.syncer.events
        end = len(events)  # later appends stay for the next time
        taken = events[:end]
        del events[:end]
        if self.events is None or not self.events.selected:
            return
        for campaign_id, outcome, at in taken:
            self.run.sync_events.append(
                outcome.as_event(
                    run_id=self.run.run_id,
                    client_id=report.account.client_id,
                    campaign_id=campaign_id,
                    at=at,
                )
            )

    def _flush_events(self) -> None:
        """Emit the sync events gathered so far, between campaign records.

        Waiting for the end would put every event of the run (one per
        campaign: 10,000 for 100 accounts) into the pipe after the last
        campaign, and the loader would parse them all then, seconds after
        the API work was done. They go out through the events stream's maps
        (its SCHEMA once); the SDK's own sync of ``sync_events`` after this
        stream emits what is left.
        """
        self._events_flushed_at = time.monotonic()
        if self.events is None or not self.events.selected:
            return
        for report in self.run.all_reports():
            self._take_events(report)
        self.events.flush()
