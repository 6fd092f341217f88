"""Pagination: exactly the real campaigns, whatever the page size."""

from __future__ import annotations

import logging

import pytest
import requests

from tap_mixoads.errors import ShortReadError
from tap_mixoads.extract.paginator import CampaignPaginator
from tests.helpers import error_lines, run_tap, tap_config

ALL_IDS = {f"campaign_{i}" for i in range(1, 101)}


@pytest.mark.parametrize("page_size", [7, 10, 100])
def test_every_page_size_gives_exactly_the_real_campaigns(mock_api, page_size):
    # vendor quirks on: has_more lies for page sizes other than 10 and pages
    # past the end hold phantom campaigns.
    server = mock_api("calm", vendor_quirks=True)
    run = run_tap(tap_config(server.url, page_size=page_size, sync_mode="none"))
    assert run.returncode == 0, run.stderr
    assert len(run.ids) == 100
    assert set(run.ids) == ALL_IDS
    expected_calls = -(-100 // page_size)
    assert server.stats()["requests"]["GET /api/campaigns"] == expected_calls


def test_progress_is_logged_per_page(mock_api):
    server = mock_api("calm")
    run = run_tap(tap_config(server.url, page_size=25, sync_mode="none"))
    assert "Page 4: 25 campaigns (100 so far of 100)" in run.stderr


def test_paging_stops_at_a_total_the_page_size_divides(mock_api):
    server = mock_api("calm", campaigns=30)
    run = run_tap(tap_config(server.url, page_size=10, sync_mode="none"))
    assert len(run.ids) == 30
    assert server.stats()["requests"]["GET /api/campaigns"] == 3


# What a wrong api_url, a captive proxy or a health endpoint answers on the
# first page, and what the one error line says came.
NOT_CAMPAIGN_PAGES = [
    pytest.param(
        "{}",
        "no 'data' array, no 'pagination.total' count; got an empty object",
        id="empty-object",
    ),
    pytest.param('{"status":"ok"}', "got an object with keys: status", id="status-ok"),
    pytest.param("[]", "got an empty list", id="empty-list"),
    pytest.param("null", "got null", id="null"),
    pytest.param(
        '{"data": []}',
        "(no 'pagination.total' count; got an object with keys: data)",
        id="data-without-total",
    ),
    pytest.param(
        '{"pagination": {"total": 0}}',
        "(no 'data' array; got an object with keys: pagination)",
        id="total-without-data",
    ),
]


@pytest.mark.parametrize(("body", "came"), NOT_CAMPAIGN_PAGES)
def test_a_first_page_that_is_not_a_campaign_page_fails_the_run(mock_api, body, came):
    # Before, each of these counted as an account without campaigns: exit 0,
    # no record, no warning.
    server = mock_api("calm", first_page_body=body)
    run = run_tap(tap_config(server.url, max_retries=2, sync_mode="none"))
    assert run.returncode == 1, run.stderr[-3000:]
    assert run.records == []
    (line,) = error_lines(run)
    assert (
        "GET /api/campaigns page 1 answered 200 but it is not a campaign page ("
    ) in line, line
    assert came in line, line
    assert "is api_url the API's base URL?" in line, line
    # Re-read like any bad page (a proxy hiccup may pass), then given up.
    assert server.stats()["requests"]["GET /api/campaigns"] == 2


def test_an_account_without_campaigns_is_not_an_error(mock_api):
    # A well-formed first page with total 0: the account is really empty.
    server = mock_api("calm", campaigns=0)
    run = run_tap(tap_config(server.url, sync_mode="none"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.records == []
    assert error_lines(run) == []
    assert server.stats()["requests"]["GET /api/campaigns"] == 1


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
