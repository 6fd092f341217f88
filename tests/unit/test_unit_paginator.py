"""The paginator on pages held in memory: totals, repeats, shrinking lists."""

from __future__ import annotations

import logging

import pytest
import requests

from tap_mixoads.errors import ShortReadError
from tap_mixoads.extract.paginator import CampaignPaginator


def _response(body: dict) -> requests.Response:
    import orjson

    response = requests.Response()
    response.status_code = 200
    response._content = orjson.dumps(body)
    return response


def _rows(first: int, n: int) -> list[dict]:
    return [{"id": f"campaign_{i}"} for i in range(first, first + n)]


def _read_pages(paginator: CampaignPaginator, bodies: list[dict]) -> list:
    """Feed pages 1..n in order; return each page's next-page decision."""
    decisions = []
    for body in bodies:
        response = _response(body)
        decisions.append(paginator.get_next(response))
        if paginator.get_next(response) is not None:
            paginator.advance(response)
    return decisions


def test_paginator_trusts_total_over_has_more():
    # has_more says no at page 1, but 7 < total 14: keep going.
    paginator = CampaignPaginator(page_size=7, logger=logging.getLogger("t"))
    first = {
        "data": _rows(1, 7),
        "pagination": {"page": 1, "limit": 7, "total": 14, "has_more": False},
    }
    assert paginator.get_next(_response(first)) == 2
    # has_more says yes, but the total is reached: stop.
    paginator = CampaignPaginator(page_size=100, logger=logging.getLogger("t"))
    body = {
        "data": _rows(1, 100),
        "pagination": {"page": 1, "limit": 100, "total": 100, "has_more": True},
    }
    assert paginator.get_next(_response(body)) is None


def test_paginator_never_pages_on_has_more():
    # Without a total the first page is not a campaign page: has_more alone
    # (which the API computes as if every page held 10) never decides.
    for body in (
        {"data": _rows(1, 1), "pagination": {"page": 1, "has_more": True}},
        {"data": [], "pagination": {}},
        {"data": _rows(1, 1), "pagination": {"total": -1}},
    ):
        paginator = CampaignPaginator(page_size=1, logger=logging.getLogger("t"))
        with pytest.raises(ShortReadError, match="not a campaign page"):
            paginator.get_next(_response(body))
        assert paginator.received == 0 and paginator.max_total is None
    paginator = CampaignPaginator(page_size=1, logger=logging.getLogger("t"))
    body = {"data": [], "pagination": {"total": 0, "has_more": True}}
    assert paginator.get_next(_response(body)) is None


def test_a_later_page_without_total_pages_on_the_first_pages_total():
    paginator = CampaignPaginator(page_size=10, logger=logging.getLogger("t"))
    decisions = _read_pages(
        paginator,
        [
            {"data": _rows(1, 10), "pagination": {"total": 25}},
            {"data": _rows(11, 10), "pagination": {}},
            {"data": _rows(21, 5), "pagination": {"has_more": True}},
        ],
    )
    assert decisions == [2, 3, None]
    assert paginator.received == 25


def test_ids_7_and_text_7_are_one_campaign():
    # The normaliser emits the integer id 7 as "7": both are one campaign,
    # emitted and synced once (the memory of earlier pages uses the same key).
    paginator = CampaignPaginator(page_size=10, logger=logging.getLogger("t"))
    body = {
        "data": [{"id": 7}, {"id": "7"}, {"id": "campaign_1"}, {"id": "campaign_2"}],
        "pagination": {"total": 4},
    }
    # 3 distinct campaigns where the total says 4: re-read once, then the
    # page's real rows are handed over and the account fails after them.
    with pytest.raises(ShortReadError, match="paging ended after 3"):
        paginator.take_page(_response(body))
    page = paginator.take_page(_response(body))
    assert [row["id"] for row in page.rows] == [7, "campaign_1", "campaign_2"]
    assert paginator.repeats_skipped == 1
    assert paginator.incomplete is not None


def test_shrinking_total_never_ends_the_run_early():
    paginator = CampaignPaginator(page_size=10, logger=logging.getLogger("t"))
    decisions = _read_pages(
        paginator,
        [
            {"data": _rows(1, 10), "pagination": {"total": 100}},
            {"data": _rows(11, 10), "pagination": {"total": 88}},
        ],
    )
    assert decisions == [2, 3]
    assert paginator.max_total == 100
