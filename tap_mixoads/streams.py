"""Stream definitions: one class per endpoint, schema inline.

The SDK's own request path runs unchanged: ``request_records`` prepares each
page's request, sends it through ``request_decorator`` (our one retry policy)
and ``requests_session`` (the account's session, whose transport applies the
budget, the token and the deadline), and hands the response to
``validate_response`` and ``parse_response``. Which account a call belongs to
is the account whose thread runs it (see ``_current``).
"""

from __future__ import annotations

import datetime
import itertools
import logging
import os
import queue
import threading
import time
import typing as t

import orjson
import requests
import singer_sdk.singerlib as singer
from singer_sdk import metrics
from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams import RESTStream, Stream
from typing_extensions import override

from tap_mixoads import settings
from tap_mixoads.errors import (
    APIRequestError,
    RateLimitedError,
    RetriableError,
    ShortReadError,
)
from tap_mixoads.http.endpoints import CAMPAIGNS_PATH, SYNC_PATH, template_of
from tap_mixoads.http.responses import (
    decode_json,
    describe,
    final_failure,
    path_of,
    release,
)
from tap_mixoads.http.retry import parse_retry_after
from tap_mixoads.pagination import CampaignPaginator
from tap_mixoads.records import CampaignNormalizer, ExtractedRecord
from tap_mixoads.run import ProgressReporter
from tap_mixoads.sync.hook import NOT_SYNCED
from tap_mixoads.sync.plan import AccountSync

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_mixoads.accounts import Account
    from tap_mixoads.http.client import AccountClient
    from tap_mixoads.run import AccountReport, RunContext

#: Records waiting between the account threads and the writer (back-pressure).
MAX_QUEUED_RECORDS = 2000
#: Seconds between two flushes of the sync events gathered so far
#: (``MIXOADS_EVENTS_FLUSH_SECONDS`` in the environment overrides it).
EVENTS_FLUSH_S = 5.0
#: The sync outcome columns, filled by the sync hook.
SYNC_FIELDS = tuple(NOT_SYNCED)
#: The column that marks a campaign the platform no longer lists.
REMOVED_AT = "removed_at"


class _AccountState:
    """What one account's thread is working on."""

    def __init__(self, account: Account, client: AccountClient, label: str) -> None:
        self.account = account
        self.client = client
        self.label = label
        self.paginator: CampaignPaginator | None = None
        self.normalizer: CampaignNormalizer | None = None


class CampaignsStream(RESTStream[int]):
    """All campaigns of every account, each synced on the platform after extraction.

    Full-table: the API offers no modified-since filter, and metrics change
    on every call, so every run reads every campaign and the loader upserts
    by key.
    """

    name = "campaigns"
    path = CAMPAIGNS_PATH
    # Campaign ids are unique only within an account.
    primary_keys = ("client_id", "id")
    replication_key = None
    # records.CampaignNormalizer already returns exactly the schema's types,
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
        #: The tap, whose message writer the removal marks go through.
        self.tap = tap
        self.run = run
        #: The stream that the run's sync events go to, flushed as they come.
        self.events = events
        self._events_flushed_at = time.monotonic()
        from_env = os.environ.get("MIXOADS_EVENTS_FLUSH_SECONDS")
        self.events_flush_s = float(from_env or EVENTS_FLUSH_S)
        self._local = threading.local()

    # --- which account is this thread working for ---------------------------

    def _current(self) -> _AccountState:
        state: _AccountState | None = getattr(self._local, "state", None)
        if state is None:
            msg = "no account is active on this thread"
            raise RuntimeError(msg)
        return state

    @property
    @override
    def requests_session(self) -> requests.Session:
        """The session of the account this thread works for."""
        return self._current().client.session

    @property
    @override
    def timeout(self) -> float:  # type: ignore[override]
        """Connect+read timeout of every call, from ``request_timeout``."""
        return self._current().client.timeout

    @override
    def request_decorator(self, func: t.Any) -> t.Any:
        """The account's retry policy (one for every endpoint, one log line)."""
        return self._current().client.retry.decorate(func)

    @override
    def get_new_paginator(self) -> CampaignPaginator:
        """A fresh paginator for this account's run."""
        paginator = CampaignPaginator(page_size=self.page_size, logger=self.logger)
        self._current().paginator = paginator
        return paginator

    @property
    def page_size(self) -> int:
        """Campaigns per list call, from ``page_size``."""
        return int(self.config["page_size"])

    @property
    @override
    def url_base(self) -> str:
        """The API's base URL, from the ``api_url`` setting."""
        return str(self.config["api_url"]).rstrip("/")

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        """Headers on every call (the transport adds ``X-Client-ID``)."""
        return {"Accept": "application/json", "User-Agent": self.user_agent}

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: int | None
    ) -> dict[str, t.Any]:
        """``page`` and ``limit`` query parameters."""
        return {"page": next_page_token or 1, "limit": self.page_size}

    # --- responses ---------------------------------------------------------

    @staticmethod
    def classify(response: requests.Response) -> None:
        """Sort a response into success, retriable or fatal.

        Raises:
            RateLimitedError: 429, with the delay the server asked for.
            RetriableError: 5xx, or a 2xx whose body is not valid JSON.
            APIRequestError: any other 4xx (a 401 here was already resent
                once with a fresh token by the transport).
        """
        status = response.status_code
        if status == requests.codes.too_many_requests:
            raise RateLimitedError(
                describe(response), response, parse_retry_after(response)
            )
        if status >= requests.codes.internal_server_error:
            raise RetriableError(describe(response), response)
        if status == requests.codes.unauthorized:
            raise APIRequestError(
                f"{describe(response)} with a freshly issued token", response
            )
        if status >= requests.codes.bad_request:
            raise APIRequestError(describe(response), response)
        try:
            decode_json(response)
        except ValueError:
            method = response.request.method
            msg = (
                f"{method} {path_of(response.url)} answered {status} with a "
                "malformed JSON body"
            )
            raise RetriableError(msg, response) from None

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Classify, then let the paginator read and judge a list page."""
        self.classify(response)
        if template_of(path_of(response.url)) == CAMPAIGNS_PATH:
            paginator = self._current().paginator
            if paginator is not None:
                paginator.read(response)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        """Normalise the page's rows (the paginator already chose them)."""
        state = self._current()
        assert state.paginator is not None and state.normalizer is not None
        page = state.paginator.take_page(response)
        release(response)
        extracted_at = datetime.datetime.fromtimestamp(
            page.received_at, tz=datetime.timezone.utc
        )
        where = f"page {page.number}"
        client_id = state.account.client_id
        count = 0
        for raw in page.rows:
            record = state.normalizer.normalize(raw, where=where)
            if record is not None:
                count += 1
                extracted = ExtractedRecord(record, extracted_at=extracted_at)
                extracted["client_id"] = client_id
                extracted[REMOVED_AT] = None  # listed: not removed (or back)
                yield extracted
        paginator = state.paginator
        self.logger.info(
            "%sPage %d: %d campaigns (%d so far of %s)",
            state.label,
            page.number,
            count,
            paginator.received,
            paginator.max_total if paginator.max_total is not None else "?",
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

    # --- records -------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Every account's campaigns; several accounts run concurrently.

        One account (no ``accounts`` setting) runs on this thread and its
        failure ends the run as before. With several, each runs on its own
        thread with its own client and sync workers; records meet in a
        bounded queue. An account that fails is logged with one line and
        recorded (the run exits non-zero after every other account's records
        and state are written).
        """
        if self.config.get("schema_only"):
            # The SDK has written this stream's SCHEMA; that is all (for a
            # loader to create the tables in one process before shards run).
            self.run.stream_records_done(self.name)
            return
        self.run.open()
        if self.run.probe:
            # ``meltano config test`` calls the config valid at the first
            # record, which only the first account produces: every account
            # must log in first, or no record is written and the last line
            # names the accounts that cannot.
            self.run.check_logins()
        accounts = self.run.accounts
        for account in accounts:
            self._prior_state(account)  # read every prior entry on this thread
        reporter = ProgressReporter(self.run, self.logger)
        reporter.start()
        try:
            if len(accounts) == 1 and not self.config.get("accounts"):
                account = accounts[0]
                try:
                    yield from self._flushing(self._account_records(account, context))
                except Exception as exc:  # its state is saved, the run fails
                    if self.ABORT_AT_RECORD_COUNT is not None:
                        raise  # a connection test reports the failure itself
                    self._account_failed(account, exc)
                finally:
                    self._save_state(account)
            else:
                yield from self._flushing(self._concurrent_records(accounts, context))
            self._write_removals()
        finally:
            reporter.stop()
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
        if not removals:
            return
        now = datetime.datetime.now(datetime.timezone.utc)
        for stream_map in self.stream_maps:
            properties = stream_map.transformed_schema.get("properties", {})
            if REMOVED_AT not in properties:
                continue  # deselected or mapped away: nothing to mark
            schema_sent = False
            for removal in removals:
                mapped = stream_map.transform(dict(removal))
                if mapped is None:
                    continue
                if not schema_sent:
                    narrow = {
                        **stream_map.transformed_schema,
                        "properties": {
                            k: v for k, v in properties.items() if k in mapped
                        },
                    }
                    narrow.pop("required", None)
                    self.tap.write_message(
                        singer.SchemaMessage(
                            stream_map.stream_alias,
                            narrow,
                            stream_map.transformed_key_properties,
                        )
                    )
                    schema_sent = True
                self.tap.write_message(
                    singer.RecordMessage(
                        stream=stream_map.stream_alias,
                        record=mapped,
                        time_extracted=now,
                    )
                )
        self.logger.info(
            "Marked %d campaigns removed (removed_at; every other column kept)",
            len(removals),
        )

    def _flushing(
        self, records: Iterable[dict[str, t.Any]]
    ) -> Iterable[dict[str, t.Any]]:
        """``records``, with the sync events so far emitted every few seconds."""
        flush = self.ABORT_AT_RECORD_COUNT is None and not self.run.probe
        for record in records:
            yield record
            if (
                flush
                and time.monotonic() - self._events_flushed_at >= self.events_flush_s
            ):
                self._flush_events()

    def _concurrent_records(
        self, accounts: list[Account], context: Context | None
    ) -> Iterable[dict[str, t.Any]]:
        records: queue.Queue[t.Any] = queue.Queue(maxsize=MAX_QUEUED_RECORDS)
        done = object()

        def work(account: Account) -> None:
            try:
                for record in self._account_records(account, context):
                    records.put(record)
            except Exception as exc:  # one account's failure never stops the rest
                self._account_failed(account, exc)
            finally:
                records.put((done, account))

        threads = [
            threading.Thread(
                target=work,
                args=(account,),
                name=f"mixoads-{account.client_id}",
                daemon=True,
            )
            for account in accounts
        ]
        for thread in threads:
            thread.start()
        running = len(threads)
        while running:
            item = records.get()
            if isinstance(item, tuple) and item[0] is done:
                running -= 1
                self._save_state(item[1])
            else:
                yield item

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

    def _account_records(
        self, account: Account, context: Context | None
    ) -> Iterable[dict[str, t.Any]]:
        several = len(self.run.accounts) > 1 or account.shard is not None
        label = account.label if several else ""
        state = _AccountState(account, self.run.client(account), label)
        state.normalizer = CampaignNormalizer(self.schema, self.API_FIELDS)
        self._local.state = state
        report = self.run.report(account)
        report.paginator_of = lambda: state.paginator
        mode = settings.sync_mode(self.config)
        if self.ABORT_AT_RECORD_COUNT is not None or self.run.probe:
            mode = "none"  # a connection test or probe never syncs
        plan = AccountSync(
            mode=mode,
            prior_state=self._prior_state(account),
            config=self.config,
            url_base=self.url_base,
            send=self._sync_sender(state.client),
            gives_up=state.client.retry.gives_up,
            logger=self.logger,
            label=label,
        )
        report.sync = plan
        try:
            records = self.request_records(context)
            if self.ABORT_AT_RECORD_COUNT is not None:
                # Stop where the SDK would, without its "unhandled error".
                records = itertools.islice(records, self.ABORT_AT_RECORD_COUNT)
            with metrics.http_request_counter(self.name, SYNC_PATH) as counter:
                for record in plan.run(records):
                    report.extracted += 1
                    yield record
                counter.increment(plan.syncer.calls)
            if state.paginator is not None and state.paginator.incomplete:
                raise ShortReadError(state.paginator.incomplete)
            if self.ABORT_AT_RECORD_COUNT is None and not self.run.probe:
                plan.close_listing()  # every page was read: the rest is gone
            summary = plan.summary()
            if plan.syncer.failures or plan.syncer.stopped:
                self.logger.warning("%s%s", label, summary)
            else:
                self.logger.info("%s%s", label, summary)
            if plan.syncer.route_missing:
                self.run.fail(account, f"POST {SYNC_PATH}: {plan.syncer.route_missing}")
            elif plan.syncer.rate_limit_stop:  # a long 429, or the budget's store
                # or turn: the line names the call and the wait, or the setting
                self.run.fail(account, plan.syncer.rate_limit_stop)
            self._log_data_repairs(state)
        finally:
            self._local.state = None
            report.finish()

    def _prior_state(self, account: Account) -> dict[str, t.Any]:
        """The account's entry in the stream's state (read before any thread)."""
        accounts = self.get_context_state(None).get("accounts")
        entry = accounts.get(account.client_id) if isinstance(accounts, dict) else None
        return dict(entry) if isinstance(entry, dict) else {}

    def _save_state(self, account: Account) -> None:
        """Write the account's ledger into the stream's state (this thread only).

        Called on the thread that writes messages, once the account is done,
        so the SDK never serialises the state while another thread edits it.
        """
        report = self.run.reports.get(account.client_id)
        if report is None or report.sync is None:
            return
        state = self.get_context_state(None)
        accounts = state.setdefault("accounts", {})
        accounts[account.client_id] = report.sync.ledger.to_state()
        self._take_events(report)

    def _take_events(self, report: AccountReport) -> None:
        """Move the account's final sync outcomes so far to ``sync_events``.

        Sync workers append to the syncer's list; this (on the thread that
        writes messages) takes what is new since the last time.
        """
        if report.sync is None:
            return
        events = report.sync.syncer.events
        end = len(events)
        for campaign_id, outcome, at in events[report.events_taken : end]:
            self.run.sync_events.append(
                {
                    "run_id": self.run.run_id,
                    "client_id": report.account.client_id,
                    "campaign_id": campaign_id,
                    "status": outcome.status,
                    "http_status": outcome.http_status,
                    "error": outcome.error,
                    "attempts": outcome.attempts,
                    "synced_at": outcome.synced_at,
                    "at": at,
                }
            )
        report.events_taken = end

    def _flush_events(self) -> None:
        """Emit the sync events gathered so far, between campaign records.

        Waiting for the end would put every event of the run (one per
        campaign: 10,000 for 100 accounts) into the pipe after the last
        campaign, and the loader would parse them all then, seconds after
        the API work was done. ``Stream.sync`` is the SDK's public entry for
        a stream's records (selection, stream maps, metrics); the SDK's own
        sync of ``sync_events`` after this stream emits what is left.
        """
        self._events_flushed_at = time.monotonic()
        if self.events is None or not self.events.selected:
            return
        for report in self.run.all_reports():
            self._take_events(report)
        if self.run.sync_events:
            self.events.sync_batch()

    def _sync_sender(
        self, client: AccountClient
    ) -> Callable[[requests.PreparedRequest, Callable[[], None]], requests.Response]:
        """Send one sync call with the account's full policy, counting attempts."""

        def send(
            request: requests.PreparedRequest, on_attempt: Callable[[], None]
        ) -> requests.Response:
            def attempt() -> requests.Response:
                on_attempt()
                response = client.session.send(request, timeout=client.timeout)
                metrics.log(
                    self.metrics_logger,
                    metrics.Point(
                        "timer",
                        metric=metrics.Metric.HTTP_REQUEST_DURATION,
                        value=response.elapsed.total_seconds(),
                        tags={
                            metrics.Tag.STREAM: self.name,
                            metrics.Tag.ENDPOINT: SYNC_PATH,
                            metrics.Tag.HTTP_STATUS_CODE: response.status_code,
                            metrics.Tag.STATUS: (
                                metrics.Status.SUCCEEDED
                                if response.ok
                                else metrics.Status.FAILED
                            ),
                        },
                    ),
                )
                self.classify(response)
                return response

            return client.retry.decorate(attempt)()

        return send

    def _log_data_repairs(self, state: _AccountState) -> None:
        """Say once per account what the data policy had to repair or reject."""
        normalizer = state.normalizer
        assert normalizer is not None
        summary = normalizer.summary()
        if summary:
            self.logger.warning(
                "%sData repaired per the data policy: %s", state.label, summary
            )
        if normalizer.unknown_fields:
            self.logger.info(
                "%sIgnored fields not in the schema: %s",
                state.label,
                ", ".join(sorted(normalizer.unknown_fields)[:20]),
            )


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

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """What the campaigns stream gathered since the last sync of this stream.

        Each record is emitted once: the campaigns stream may sync this one
        several times during its run, and the SDK syncs it once more after.
        Nothing in a connection test (``--test``): a run report is not a
        record read from the API.
        """
        collected = self.collected()
        taken = collected[:]
        del collected[: len(taken)]
        if self.ABORT_AT_RECORD_COUNT is None:
            yield from taken
        if not getattr(self, "mid_run", False):
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

    #: True during :meth:`sync_batch`.
    mid_run = False

    @override
    def collected(self) -> list[dict[str, t.Any]]:
        return self.run.sync_events

    def sync_batch(self) -> None:
        """Emit the events gathered so far, while the campaigns stream runs."""
        self.mid_run = True
        try:
            self.sync()
        finally:
            self.mid_run = False

    @override
    def log(
        self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any
    ) -> None:
        """The SDK's "Beginning sync" line, at DEBUG for a mid-run flush.

        A flush every few seconds is one batch of a single sync, not a new
        sync: at INFO, a ten-minute run logged the stream "beginning" 120
        times. Its own sync after the campaigns still says it once.
        """
        if self.mid_run and message.startswith("Beginning sync"):
            level = logging.DEBUG
        super().log(message, *args, level=level, **kwargs)


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
