"""Pagination: exactly the real campaigns, whatever the page size."""

from __future__ import annotations

import logging

import pytest
import requests

from tap_mixoads.pagination import CampaignPaginator
from tests.helpers import run_tap, tap_config

ALL_IDS = {f"campaign_{i}" for i in range(1, 101)}


@pytest.mark.parametrize("page_size", [7, 10, 100])
def test_every_page_size_gives_exactly_the_real_campaigns(mock_api, page_size):
    # vendor quirks on: has_more lies for page sizes other than 10 and pages
    # past the end hold phantom campaigns.
    server = mock_api("calm", vendor_quirks=True)
    run = run_tap(tap_config(server.url, page_size=page_size, sync_enabled=False))
    assert run.returncode == 0, run.stderr
    assert len(run.ids) == 100
    assert set(run.ids) == ALL_IDS
    expected_calls = -(-100 // page_size)
    assert server.stats()["requests"]["GET /api/campaigns"] == expected_calls


def test_progress_is_logged_per_page(mock_api):
    server = mock_api("calm")
    run = run_tap(tap_config(server.url, page_size=25, sync_enabled=False))
    assert "Page 4: 25 campaigns (100 so far of 100)" in run.stderr


def test_stops_on_empty_page_without_total(mock_api):
    server = mock_api("calm", campaigns=30)
    run = run_tap(tap_config(server.url, page_size=10, sync_enabled=False))
    assert len(run.ids) == 30


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


def test_paginator_uses_has_more_only_without_total():
    paginator = CampaignPaginator(page_size=1, logger=logging.getLogger("t"))
    body = {"data": _rows(1, 1), "pagination": {"page": 1, "has_more": True}}
    assert paginator.get_next(_response(body)) == 2
    paginator = CampaignPaginator(page_size=1, logger=logging.getLogger("t"))
    body = {"data": _rows(1, 1), "pagination": {"page": 1, "has_more": False}}
    assert paginator.get_next(_response(body)) is None
    paginator = CampaignPaginator(page_size=1, logger=logging.getLogger("t"))
    assert paginator.get_next(_response({"data": [], "pagination": {}})) is None


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
