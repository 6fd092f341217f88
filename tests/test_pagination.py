"""Pagination: exactly the real campaigns, whatever the page size."""

from __future__ import annotations

import pytest

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
