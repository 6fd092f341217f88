"""Pagination: exactly the real campaigns, whatever the page size."""

from __future__ import annotations

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


def test_paginator_trusts_total_over_has_more():
    paginator = CampaignPaginator(page_size=7)
    # has_more says no at page 10, but 70 < total 100: keep going.
    paginator._value = 10
    body = {
        "data": [{"id": "x"}],
        "pagination": {"page": 10, "limit": 7, "total": 100, "has_more": False},
    }
    assert paginator.get_next(_response(body)) == 11
    # has_more says yes, but the total is reached: stop.
    paginator._value = 1
    body = {
        "data": [{"id": "x"}],
        "pagination": {"page": 1, "limit": 100, "total": 100, "has_more": True},
    }
    assert paginator.get_next(_response(body)) is None


def test_paginator_uses_has_more_only_without_total():
    paginator = CampaignPaginator(page_size=10)
    body = {"data": [{"id": "x"}], "pagination": {"page": 1, "has_more": True}}
    assert paginator.get_next(_response(body)) == 2
    body = {"data": [{"id": "x"}], "pagination": {"page": 1, "has_more": False}}
    assert paginator.get_next(_response(body)) is None
    assert (
        paginator.get_next(_response({"data": [], "pagination": {"total": 500}}))
        is None
    )


def test_shrinking_total_never_ends_the_run_early():
    paginator = CampaignPaginator(page_size=10)
    paginator._value = 8
    first = {"data": [{"id": "x"}], "pagination": {"total": 100}}
    assert paginator.get_next(_response(first)) == 9
    paginator._value = 9
    shrunk = {"data": [{"id": "x"}], "pagination": {"total": 88}}
    assert paginator.get_next(_response(shrunk)) == 10
