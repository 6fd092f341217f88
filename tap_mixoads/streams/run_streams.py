"""The run's own streams: every sync call's outcome, and a report per account.

Their records are gathered by the campaigns stream during its run; the SDK
syncs these after it, and they emit what was gathered (sync events may
also be flushed while the campaigns still come, see
:meth:`SyncEventsStream.flush`).
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th
from singer_sdk.streams import Stream
from typing_extensions import override

from tap_mixoads.config.mode import RunMode
from tap_mixoads.singer.messages import SideWriter

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_mixoads.engine.run import RunContext


class _RunStream(Stream):
    """A stream whose records the campaigns stream collected during the run.

    The SDK syncs streams one after another, so these run after
    ``campaigns`` and emit what it gathered (one record per sync call's final
    outcome, one per account): a bounded list, never re-fetched.
    """

    def __init__(self, tap: Tap, *, run: RunContext) -> None:
        super().__init__(tap)
        self.run = run

    def collected(self) -> list[dict[str, t.Any]]:
        """The records gathered for this stream."""
        raise NotImplementedError

    def take(self) -> list[dict[str, t.Any]]:
        """The records gathered and not emitted yet (each is emitted once)."""
        collected = self.collected()
        taken = collected[:]
        del collected[: len(taken)]
        return taken

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """What the campaigns stream gathered and did not flush yet.

        Nothing in a connection test (``--test``): a run report is not a
        record read from the API.
        """
        mode = self.run.begin(record_limit=self.ABORT_AT_RECORD_COUNT)
        taken = self.take()
        if mode is not RunMode.TEST:
            yield from taken
        self.run.stream_records_done(self.name)


class SyncEventsStream(_RunStream):
    """Every sync call's final outcome: the history behind ``sync_status``.

    "What happened to campaign_42 over the last week" is one query:
    ``select * from sync_events where campaign_id = 'campaign_42'``.
    """

    name = "sync_events"
    primary_keys = ("run_id", "client_id", "campaign_id")
    replication_key = None
    schema = th.PropertiesList(
        th.Property("run_id", th.StringType, required=True),
        th.Property("client_id", th.StringType, required=True),
        th.Property("campaign_id", th.StringType, required=True),
        th.Property("status", th.StringType, description="success, failed, ..."),
        th.Property("http_status", th.IntegerType),
        th.Property("error", th.StringType),
        th.Property("attempts", th.IntegerType),
        th.Property("synced_at", th.DateTimeType),
        th.Property("at", th.DateTimeType, description="When the outcome was final"),
    ).to_dict()

    def __init__(self, tap: Tap, *, run: RunContext) -> None:
        super().__init__(tap, run=run)
        self._writer = SideWriter(tap, self)

    @override
    def collected(self) -> list[dict[str, t.Any]]:
        return self.run.sync_events

    def flush(self) -> None:
        """Emit the events gathered so far, while the campaigns stream runs.

        Through this stream's maps, its SCHEMA written once, not by a sync
        of its own per batch (which re-sent the SCHEMA every few seconds).
        The campaigns stream flushes only in a run that changes things.
        """
        self._writer.write(self.take())


class SyncRunsStream(_RunStream):
    """One run report per account and run: figures beside the campaigns."""

    name = "sync_runs"
    primary_keys = ("run_id", "client_id")
    replication_key = None
    schema = th.PropertiesList(
        th.Property("run_id", th.StringType, required=True),
        th.Property("client_id", th.StringType, required=True),
        th.Property("status", th.StringType, description="ok or failed"),
        th.Property("error", th.StringType),
        th.Property("started_at", th.DateTimeType),
        th.Property("ended_at", th.DateTimeType),
        th.Property("campaigns", th.IntegerType),
        th.Property("synced", th.IntegerType),
        th.Property("failed", th.IntegerType),
        th.Property("deferred", th.IntegerType),
        th.Property("dead", th.IntegerType),
        th.Property(
            "stale_dropped",
            th.IntegerType,
            description=(
                "Failure-ledger entries dropped: campaigns a complete listing no "
                "longer returns"
            ),
        ),
        th.Property(
            "unchanged",
            th.IntegerType,
            description="sync_mode changed: campaigns not synced, settings unchanged",
        ),
        th.Property(
            "removed",
            th.IntegerType,
            description="Campaigns marked removed (removed_at) in this run",
        ),
        th.Property(
            "sync_unanswered",
            th.IntegerType,
            description=(
                "Sync attempts that got no answer (timeout, reset): the "
                "platform may have run them, and a retry runs them again"
            ),
        ),
        th.Property(
            "calls",
            th.ObjectType(additional_properties=True),
            description="Attempts by endpoint and status",
        ),
        th.Property("api_calls", th.IntegerType),
        th.Property("rate_limited", th.IntegerType),
        th.Property("retries", th.IntegerType),
        th.Property("tokens_issued", th.IntegerType),
        th.Property("floor_seconds", th.NumberType),
        th.Property("wall_seconds", th.NumberType),
        th.Property("floor_ratio", th.NumberType),
    ).to_dict()

    @override
    def collected(self) -> list[dict[str, t.Any]]:
        return self.run.run_reports
