"""One account's campaign list, page after page, as normalised records.

The loop asks the account's API for page 1, 2, ... until the paginator says
the list is exhausted (the SDK paginator's public ``current_value``,
``advance`` and ``finished``); the paginator judges every attempt (a bad page is
retried like a failed call) and hands each page's new rows over once; the
normaliser turns them into the schema's types. Whether the list ended short
of its total is the paginator's ``incomplete``, for the caller to judge once
every record (and its sync) is through.
"""

from __future__ import annotations

import asyncio
import datetime
import typing as t

import orjson

from tap_mixoads.extract.normalizer import ExtractedRecord
from tap_mixoads.http.responses import release

if t.TYPE_CHECKING:
    import logging
    from collections.abc import AsyncGenerator

    import requests

    from tap_mixoads.extract.normalizer import CampaignNormalizer
    from tap_mixoads.extract.paginator import CampaignPaginator
    from tap_mixoads.http.api import AccountAPI

#: The column that marks a campaign the platform no longer lists.
REMOVED_AT = "removed_at"


def _compact(raw: t.Any) -> t.Any:
    """A decoded row as its JSON text (as it was, if orjson cannot write it).

    orjson refuses what only the lenient decoder lets through (a lone
    surrogate, an integer past 64 bits): such a row stays decoded.
    """
    try:
        text = orjson.dumps(raw)
    except orjson.JSONEncodeError:
        return raw
    # orjson's bytes keep the capacity it wrote into (4 KB for a 200-byte
    # row, as tracemalloc sees it): a copy is the row's own size.
    return bytes(memoryview(text))


def _expand(row: t.Any) -> t.Any:
    """The decoded row of :func:`_compact`."""
    return orjson.loads(row) if isinstance(row, bytes) else row


async def campaign_records(
    *,
    api: AccountAPI,
    paginator: CampaignPaginator,
    normalizer: CampaignNormalizer,
    client_id: str,
    logger: logging.Logger,
    label: str = "",
    compact: bool = True,
    prefetch: bool = True,
) -> AsyncGenerator[dict[str, t.Any], None]:
    """Every campaign the account's list returns, normalised, in list order.

    With ``prefetch``, the next page is asked for as soon as this one is
    read, so that the server prepares it while this page's rows go out (the
    call still waits for its turn in the account's budget, and its failure
    comes out only after this page's rows). A run that stops at a record
    count does not prefetch: it would ask for a page it never reads.
    """

    def ask() -> asyncio.Future[requests.Response]:
        return asyncio.ensure_future(
            api.list_page(
                paginator.current_value, paginator.page_size, check=paginator.read
            )
        )

    following: asyncio.Future[requests.Response] | None = None
    try:
        while not paginator.finished:
            if following is None:
                following = ask()
            response = await following
            following = None
            page = paginator.take_page(response)
            # The next page is known now: the answer (its body) is let go
            # before the rows are, which with a thousand accounts waiting on
            # their syncs is most of what the run would hold.
            paginator.advance(response)  # the SDK paginator's own step
            paginator.let_go()
            release(response)
            del response
            so_far = paginator.received
            if prefetch and not paginator.finished:
                following = ask()
            extracted_at = datetime.datetime.fromtimestamp(
                page.received_at, tz=datetime.timezone.utc
            )
            where = f"page {page.number}"
            count = 0
            # A page's rows wait for their syncs (at the vendor's pace,
            # minutes): kept as their JSON text, a third of the size of the
            # decoded rows, and decoded one at a time as each goes out
            # (``compact``; without syncs nothing waits, and they go out as
            # they are).
            rows = [_compact(raw) if compact else raw for raw in reversed(page.rows)]
            page.rows = []
            while rows:
                record = normalizer.normalize(_expand(rows.pop()), where=where)
                if record is not None:
                    count += 1
                    extracted = ExtractedRecord(record, extracted_at=extracted_at)
                    extracted["client_id"] = client_id
                    extracted[REMOVED_AT] = None  # listed: not removed (or back)
                    yield extracted
            logger.info(
                "%sPage %d: %d campaigns (%d so far of %s)",
                label,
                page.number,
                count,
                so_far,
                paginator.max_total if paginator.max_total is not None else "?",
            )
    finally:
        if following is not None:  # a page asked for and never read
            following.add_done_callback(_forget)
            following.cancel()


def _forget(future: asyncio.Future[t.Any]) -> None:
    """Take a dropped page's outcome (so that asyncio does not log it)."""
    if not future.cancelled():
        future.exception()
