"""The campaigns stream: drains the engine's records and keeps the state.

The stream only drains: every account's campaigns come from
:func:`tap_mixoads.engine.account.account_records` (list, normalise, sync),
one account on this thread or several through the fan-in
(:mod:`tap_mixoads.engine.fanin`); nothing calls back into the stream. What
the stream itself does is what the SDK asks of it: yield records, have each
account's ledger kept in the stream's state and the sync events gathered
so far flushed between records (:mod:`tap_mixoads.streams.keeper`), and,
after every account, mark the campaigns the platform no longer lists.
"""

from __future__ import annotations

import typing as t

import orjson
from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams import Stream
from typing_extensions import override

from tap_mixoads import __version__
from tap_mixoads.config.mode import RunMode
from tap_mixoads.engine.account import CampaignShape, account_records
from tap_mixoads.engine.fanin import fan_in
from tap_mixoads.engine.progress import ProgressReporter
from tap_mixoads.errors import RateLimitedError
from tap_mixoads.extract.pages import REMOVED_AT
from tap_mixoads.http.responses import final_failure
from tap_mixoads.singer.messages import SideWriter
from tap_mixoads.streams.keeper import StateKeeper
from tap_mixoads.sync.outcome import NOT_SYNCED

if t.TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Iterable

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_mixoads.config.accounts import Account
    from tap_mixoads.engine.run import RunContext
    from tap_mixoads.streams.run_streams import SyncEventsStream

#: The sync outcome columns, filled by the sync hook.
SYNC_FIELDS = tuple(NOT_SYNCED)


class CampaignsStream(Stream):
    """All campaigns of every account, each synced on the platform after extraction.

    Full-table: the API offers no modified-since filter, and metrics change
    on every call, so every run reads every campaign and the loader upserts
    by key.
    """

    name = "campaigns"
    # Campaign ids are unique only within an account.
    primary_keys = ("client_id", "id")
    replication_key = None
    # extract.normalizer.CampaignNormalizer already returns exactly the schema's types,
    # so the SDK's generic per-record conformance would only cost time.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    schema = th.PropertiesList(
        th.Property(
            "client_id",
            th.StringType,
            required=True,
            description="The account (X-Client-ID) the campaign belongs to",
        ),
        th.Property("id", th.StringType, required=True, description="Campaign id"),
        th.Property("name", th.StringType),
        th.Property("status", th.StringType, description="active, paused, ..."),
        th.Property("budget", th.NumberType),
        th.Property("impressions", th.IntegerType),
        th.Property("clicks", th.IntegerType),
        th.Property("conversions", th.IntegerType),
        th.Property("created_at", th.DateTimeType),
        th.Property(
            "sync_status",
            th.StringType,
            description="success, failed or deferred; null when the hook is off",
        ),
        th.Property(
            "synced_at",
            th.DateTimeType,
            description="The platform's timestamp of the successful sync",
        ),
        th.Property(
            "sync_http_status",
            th.IntegerType,
            description="HTTP status of the last sync attempt (null: no answer)",
        ),
        th.Property(
            "sync_error",
            th.StringType,
            description="Why the sync failed, after all retries",
        ),
        th.Property("sync_attempts", th.IntegerType),
        th.Property(
            "removed_at",
            th.DateTimeType,
            description=(
                "When the tap first saw the campaign missing from a complete "
                "listing (deleted on the platform); null while it is listed"
            ),
        ),
    ).to_dict()

    #: Fields the API provides (the rest the tap adds itself).
    API_FIELDS = tuple(
        name
        for name in schema["properties"]
        if name not in SYNC_FIELDS and name not in ("client_id", REMOVED_AT)
    )

    def __init__(
        self, tap: Tap, *, run: RunContext, events: SyncEventsStream | None = None
    ) -> None:
        super().__init__(tap)
        self.run = run
        #: Saves the ledgers into the state and flushes the sync events.
        self.keeper = StateKeeper(self, run, events)
        #: Writes the removal marks under a SCHEMA of their three columns.
        self._removal_writer = SideWriter(tap, self, narrow=True, needs=REMOVED_AT)

    @property
    def shape(self) -> CampaignShape:
        """What the engine needs to know of this stream's records."""
        return CampaignShape(
            schema=self.schema,
            api_fields=self.API_FIELDS,
            stream_name=self.name,
            user_agent=f"tap-mixoads/{__version__}",
        )

    @override
    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> Iterable[Context | None]:
        """None: campaigns have no child streams.

        The SDK's default hands every record on as a child context and copies
        it, per record, for children that do not exist.
        """
        return ()

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Every account's campaigns; several accounts run concurrently.

        Each account is a task on the run's event loop (one or a thousand,
        the same path), with its own client; records meet in a bounded
        hand-over and come out here, on the SDK's thread. An account that
        fails is logged with one line and recorded (the run exits non-zero
        after every other account's records and state are written).
        """
        mode = self.run.begin(record_limit=self.ABORT_AT_RECORD_COUNT)
        if mode is RunMode.SCHEMA_ONLY:
            # The SDK has written this stream's SCHEMA; that is all (for a
            # loader to create the tables in one process before shards run).
            self.run.stream_records_done(self.name)
            return
        self.run.open()
        self.keeper.claim_state_entries()
        if mode is RunMode.PROBE:
            # ``meltano config test`` calls the config valid at the first
            # record, which only the first account produces: every account
            # must log in first, or no record is written and the last line
            # names the accounts that cannot.
            self.run.check_logins()
        accounts = self.run.accounts
        prior = {
            account.client_id: self.keeper.prior_state(account) for account in accounts
        }

        def records_of(account: Account) -> AsyncGenerator[dict[str, t.Any], None]:
            return account_records(
                self.run,
                account,
                shape=self.shape,
                prior_state=prior[account.client_id],
                logger=self.logger,
                metrics_logger=self.metrics_logger,
            )

        # A connection test of one account reports its failure itself.
        raise_failure = mode is RunMode.TEST and not self.run.settings.several_accounts
        failures: list[Exception] = []

        def on_failure(account: Account, exc: Exception) -> None:
            if raise_failure:
                failures.append(exc)
            else:  # its state is saved, the others go on, the run fails
                self._account_failed(account, exc)

        reporter = ProgressReporter(self.run, self.logger)
        reporter.start()
        try:
            yield from fan_in(
                self.run.engine,
                accounts,
                records_of,
                on_failure=on_failure,
                on_done=self.keeper.account_done,
                spacing_of=lambda account: self.run.client(account).budget.interval_s,
                between_batches=self.keeper.between_batches,
            )
            if failures:
                raise failures[0]
            self._write_removals()
        finally:
            self.keeper.save_finished()
            reporter.stop()
            # No call is made after the campaigns: the connections and the
            # loop go now (an in-process caller of sync_all keeps nothing).
            self.run.close()
            self._log_account_summaries()
        self.run.stream_records_done(self.name)

    def _write_removals(self) -> None:
        """Mark the campaigns this run found gone: ``removed_at``, nothing else.

        target-postgres (an SDK SQL target) updates exactly the columns of
        the SCHEMA it was given (``upsert`` in its ``sinks.py``): a record
        with only the key and ``removed_at`` would null every other column
        under the full SCHEMA, but under a SCHEMA of those three columns it
        leaves the row's name, settings, metrics and sync outcome intact. So
        after every account's records, the stream's SCHEMA is sent once more,
        narrowed to them, and then one record per removed campaign. Each
        account's removals come from its own state entry, so a run marks
        only its own accounts' campaigns, and only after a complete listing.
        Stream maps apply as to every record (alias, filters).
        """
        if not self.selected:
            return
        removals = [
            {
                "client_id": report.account.client_id,
                "id": r.campaign_id,
                REMOVED_AT: r.removed_at,
            }
            for report in self.run.all_reports()
            if report.sync is not None
            for r in report.sync.removals
        ]
        if removals and self._removal_writer.write(removals):
            self.logger.info(
                "Marked %d campaigns removed (removed_at; every other column kept)",
                len(removals),
            )

    def _account_failed(self, account: Account, exc: Exception) -> None:
        message = final_failure(exc)
        if isinstance(exc, RateLimitedError):
            message += " (more than max_rate_limit_wait, or every attempt)"
        self.logger.error("%saccount failed: %s", account.label, message)
        self.run.fail(account, message)

    def _log_account_summaries(self) -> None:
        for account in self.run.accounts:
            report = self.run.reports.get(account.client_id)
            if report is None:
                continue
            failed = self.run.failures.get(account.client_id)
            line = report.summary_line()
            if failed:
                self.logger.error("%sFAILED (%s): %s", account.label, failed, line)
            else:
                self.logger.info("%sdone: %s", account.label, line)
            record = report.as_record()
            record["status"] = "failed" if failed else "ok"
            record["error"] = failed
            self.run.run_reports.append(record)
            self.logger.info("run report: %s", orjson.dumps(record).decode())
