"""The account's page loop, on an API held in memory."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tap_mixoads.errors import ShortReadError
from tap_mixoads.extract.normalizer import CampaignNormalizer, ExtractedRecord
from tap_mixoads.extract.pages import REMOVED_AT, campaign_records
from tap_mixoads.extract.paginator import CampaignPaginator
from tap_mixoads.streams import CampaignsStream
from tests.unit.fakes import ListingAPI, collect, page

LOG = logging.getLogger("test")


def _records(api: ListingAPI, page_size: int) -> tuple[list[dict], CampaignPaginator]:
    paginator = CampaignPaginator(page_size=page_size, logger=LOG)
    normalizer = CampaignNormalizer(CampaignsStream.schema, CampaignsStream.API_FIELDS)
    out = asyncio.run(
        collect(
            campaign_records(
                api=api,  # type: ignore[arg-type]
                paginator=paginator,
                normalizer=normalizer,
                client_id="acme",
                logger=LOG,
            )
        )
    )
    return out, paginator


@pytest.mark.parametrize(
    ("total", "page_size", "calls"), [(30, 10, 3), (31, 10, 4), (5, 100, 1)]
)
def test_every_page_once_until_the_total(total, page_size, calls):
    api = ListingAPI(total)
    out, paginator = _records(api, page_size)
    assert [r["id"] for r in out] == [f"campaign_{i}" for i in range(1, total + 1)]
    assert api.asked == [(n, page_size) for n in range(1, calls + 1)]
    assert paginator.incomplete is None


def test_records_carry_the_account_their_page_time_and_no_removal():
    out, _ = _records(ListingAPI(3), 10)
    assert {r["client_id"] for r in out} == {"acme"}
    assert all(r[REMOVED_AT] is None for r in out)
    assert all(isinstance(r, ExtractedRecord) and r.extracted_at for r in out)


def test_an_empty_account_is_one_call_and_no_record():
    api = ListingAPI(0)
    out, _ = _records(api, 10)
    assert out == [] and api.asked == [(1, 10)]


def test_a_page_of_repeats_is_refused_by_the_check():
    # Page 2 answers page 1 again: the check refuses it (the real API
    # object retries; here it raises at once).
    api = ListingAPI(30, pages={2: page(1, 10, 30)})
    with pytest.raises(ShortReadError, match="already read"):
        _records(api, 10)
