"""One account's run: list, normalise, sync, judge, and say how it went.

Everything the account needs is handed in (its client, its report, its
prior ledger); nothing is found through a thread or the stream. The records
come out in list order with their sync outcome; the account's failure is
raised to the caller, which records it and goes on with the others.
"""

from __future__ import annotations

import logging
import typing as t

from tap_mixoads.errors import ShortReadError
from tap_mixoads.extract.normalizer import CampaignNormalizer
from tap_mixoads.extract.pages import campaign_records
from tap_mixoads.extract.paginator import CampaignPaginator
from tap_mixoads.http.api import AccountAPI
from tap_mixoads.http.endpoints import SYNC_PATH
from tap_mixoads.sync.plan import AccountSync

if t.TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Mapping, Sequence

    from tap_mixoads.config.accounts import Account
    from tap_mixoads.engine.run import RunContext


class CampaignShape(t.NamedTuple):
    """What the stream's schema says a campaign record is."""

    schema: dict[str, t.Any]
    #: Fields the API provides (the rest the tap adds itself).
    api_fields: Sequence[str]
    stream_name: str
    user_agent: str


async def account_records(
    run: RunContext,
    account: Account,
    *,
    shape: CampaignShape,
    prior_state: Mapping[str, t.Any],
    logger: logging.Logger,
    metrics_logger: logging.Logger,
) -> AsyncGenerator[dict[str, t.Any], None]:
    """The account's campaigns with their sync outcomes, in list order.

    Raises:
        ShortReadError: the list ended short of its total (after every
            record that was read, and its sync, came out).
        Exception: whatever ended the account's run (its report says how
            far it got; the caller records the failure).
    """
    settings = run.settings
    mode = run.mode
    several = len(run.accounts) > 1 or account.shard is not None
    label = account.label if several else ""
    client = run.client(account)
    api = AccountAPI(
        client=client,
        url_base=settings.url_base,
        user_agent=shape.user_agent,
        stream_name=shape.stream_name,
        metrics_logger=metrics_logger,
    )
    paginator = CampaignPaginator(page_size=settings.page_size, logger=logger)
    normalizer = CampaignNormalizer(shape.schema, tuple(shape.api_fields))
    report = run.report(account)
    report.paginator_of = lambda: paginator
    plan = AccountSync(
        # A connection test or a probe never syncs.
        mode=settings.sync_mode if mode.changes_things else "none",
        prior_state=prior_state,
        settings=settings,
        send=api.sync_campaign,
        gives_up=client.retry.gives_up,
        logger=logger,
        label=label,
    )
    report.sync = plan
    try:
        records: AsyncGenerator[dict[str, t.Any], None] = campaign_records(
            api=api,
            paginator=paginator,
            normalizer=normalizer,
            client_id=account.client_id,
            logger=logger,
            label=label,
            # Rows wait for their syncs only when there are syncs.
            compact=plan.mode != "none",
            # A run that stops at a record count never reads a next page.
            prefetch=run.record_limit is None,
        )
        if run.record_limit is not None:
            # Stop where the SDK would, without its "unhandled error".
            records = _first(records, run.record_limit)
        planned = plan.run(records)
        try:
            async for record in planned:
                report.extracted += 1
                yield record
        finally:
            await planned.aclose()
        if paginator.incomplete:
            raise ShortReadError(paginator.incomplete)
        if mode.changes_things:
            plan.close_listing()  # every page was read: the rest is gone
        summary = plan.summary()
        level = (
            logging.WARNING
            if plan.syncer.failures or plan.syncer.stopped
            else logging.INFO
        )
        logger.log(level, "%s%s", label, summary)
        if plan.syncer.route_missing:
            run.fail(account, f"POST {SYNC_PATH}: {plan.syncer.route_missing}")
        elif plan.syncer.rate_limit_stop:  # a long 429, or the budget's store
            # or turn: the line names the call and the wait, or the setting
            run.fail(account, plan.syncer.rate_limit_stop)
        _log_data_repairs(normalizer, logger, label)
    finally:
        api.close()
        report.finish()


async def _first(
    records: AsyncGenerator[dict[str, t.Any], None], limit: int
) -> AsyncGenerator[dict[str, t.Any], None]:
    """The first ``limit`` records (``itertools.islice`` for async iterators)."""
    if limit <= 0:
        return
    count = 0
    try:
        async for record in records:
            yield record
            count += 1
            if count >= limit:
                return
    finally:
        await records.aclose()


def _log_data_repairs(
    normalizer: CampaignNormalizer, logger: logging.Logger, label: str
) -> None:
    """Say once per account what the data policy had to repair or reject."""
    summary = normalizer.summary()
    if summary:
        logger.warning("%sData repaired per the data policy: %s", label, summary)
    if normalizer.unknown_fields:
        logger.info(
            "%sIgnored fields not in the schema: %s",
            label,
            ", ".join(sorted(normalizer.unknown_fields)[:20]),
        )
