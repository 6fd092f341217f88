"""Short reads and phantom rows (issue "exit status is the truth", points 1-2).

A run never ends with exit 0 and fewer campaigns than the API says exist,
and never emits (or syncs) a campaign past the largest total seen. Each test
runs the real tap against a mock that misbehaves in exactly one way.
"""

from __future__ import annotations

import pytest

from tests.conftest import query
from tests.helpers import error_lines, run_pipeline, run_tap, tap_config

ALL_IDS = {f"campaign_{i}" for i in range(1, 101)}


def _rows_and_syncs(pg_url: str, schema: str) -> tuple[int, int, dict[str, int]]:
    (row,) = query(
        pg_url, f'select count(*), count(distinct id) from "{schema}".campaigns'
    )
    statuses = dict(
        query(
            pg_url,
            f'select sync_status, count(*) from "{schema}".campaigns group by 1',
        )
    )
    return row[0], row[1], statuses


# Each page fault (pages of 10): the first bad page, and what it says came.
SHORT_PAGES = [
    pytest.param("empty_after", 3, "it was empty", id="empty"),
    pytest.param("non_list", 2, "its data was NoneType, not a list", id="data-null"),
    pytest.param(
        "non_list_object", 2, "its data was dict, not a list", id="data-object"
    ),
    pytest.param(
        "duplicate_page", 2, "all 10 of its campaigns were already read", id="repeat"
    ),
    pytest.param(
        "ignore_page", 2, "all 10 of its campaigns were already read", id="ignored"
    ),
]


@pytest.mark.parametrize(("fault", "page", "came"), SHORT_PAGES)
def test_a_page_that_yields_nothing_fails_the_run_with_one_line(
    mock_api, fault, page, came
):
    server = mock_api("calm", vendor_quirks=False, page_fault=fault)
    run = run_tap(tap_config(server.url, page_size=10, sync_mode="none", max_retries=2))
    assert run.returncode == 1, run.stderr[-3000:]
    (line,) = error_lines(run)
    read = (page - 1) * 10
    assert (
        f"GET /api/campaigns page {page}: the total says 100 campaigns and "
        f"{read} were read, but {came}"
    ) in line, line
    assert line.endswith("(on every attempt)"), line
    # The bad page was re-read before giving up (max_retries attempts).
    assert server.stats()["requests"]["GET /api/campaigns"] == page - 1 + 2
    # What was emitted is the good pages, once: nothing invented or repeated.
    assert run.ids == [f"campaign_{i}" for i in range(1, read + 1)]


@pytest.mark.parametrize(("fault", "_page", "_came"), SHORT_PAGES)
def test_a_short_page_that_a_reread_recovers_loses_nothing(
    mock_api, fault, _page, _came
):
    server = mock_api("calm", vendor_quirks=False, page_fault=fault, page_fault_times=1)
    run = run_tap(tap_config(server.url, page_size=10, sync_mode="none", max_retries=3))
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(run.ids) == sorted(ALL_IDS)
    assert len(run.ids) == 100
    # One more list call than the 10 pages: the re-read of the faulty page.
    assert server.stats()["requests"]["GET /api/campaigns"] == 11


def test_a_short_read_into_postgres_exits_non_zero_and_keeps_what_was_read(
    mock_api, pg_url, pg_schema, target_config
):
    server = mock_api(
        "calm", vendor_quirks=False, page_fault="ignore_page", sync_delay=0
    )
    config = tap_config(server.url, page_size=10, max_retries=2)
    run = run_pipeline(config, target_config, timeout=120)
    assert run.tap_returncode == 1, run.tap_stderr[-3000:]
    assert run.target_returncode == 0, run.target_stderr[-3000:]
    errors = [x for x in run.tap_stderr.splitlines() if "tap-mixoads: error:" in x]
    assert len(errors) == 1, errors
    assert "page 2: the total says 100 campaigns and 10 were read" in errors[0]
    # Page 1 landed, once and synced; nothing invented.
    assert _rows_and_syncs(pg_url, pg_schema) == (10, 10, {"success": 10})


def test_a_campaign_listed_again_on_a_far_page_is_emitted_once(mock_api):
    # campaign_5 also appears on page 7, in place of campaign_70, which the
    # listing then never shows: the repeat is dropped, and since the total
    # (100) was not reached, the run says so instead of exiting 0 with 99.
    server = mock_api("calm", vendor_quirks=False, repeat_campaign=("5@7",))
    run = run_tap(tap_config(server.url, page_size=10, sync_mode="none", max_retries=2))
    assert run.ids.count("campaign_5") == 1
    assert len(run.ids) == len(set(run.ids))
    assert "campaign_70" not in run.ids
    # Every page's real rows, page 10 included (paging ends short there: it
    # is re-read once, then its rows are emitted and the run fails).
    assert len(run.ids) == 99
    assert run.returncode == 1, run.stderr[-3000:]
    (line,) = error_lines(run)
    assert "the total says 100 campaigns, but paging ended after 99" in line, line


@pytest.mark.parametrize("page_size", [7, 30, 100, 1000])
def test_a_padded_last_page_emits_and_syncs_no_phantom(mock_api, page_size):
    server = mock_api("calm", vendor_quirks=False, pad_last_page=True, sync_delay=0)
    run = run_tap(tap_config(server.url, page_size=page_size, sync_concurrency=8))
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.ids) == 100 and set(run.ids) == ALL_IDS
    synced = server.stats()["sync_calls"]
    assert set(synced) == ALL_IDS, sorted(set(synced) - ALL_IDS)[:5]
    if 100 % page_size:
        assert "campaigns past the total (100): they do not exist" in run.stderr


def test_a_padded_last_page_loads_no_phantom_into_postgres(
    mock_api, pg_url, pg_schema, target_config
):
    server = mock_api("calm", vendor_quirks=False, pad_last_page=True, sync_delay=0)
    config = tap_config(server.url, page_size=30, sync_concurrency=8)
    run = run_pipeline(config, target_config, timeout=120)
    assert run.tap_returncode == 0, run.tap_stderr[-3000:]
    assert run.target_returncode == 0, run.target_stderr[-3000:]
    assert _rows_and_syncs(pg_url, pg_schema) == (100, 100, {"success": 100})
    (row,) = query(
        pg_url,
        f'select count(*) from "{pg_schema}".campaigns '
        "where split_part(id, '_', 2)::int > 100",
    )
    assert row == (0,)


def test_a_total_that_shrinks_mid_run_is_a_warning_not_the_end(mock_api):
    # Drifting totals (97..103) on every page, and no phantom pages: the
    # largest total is kept, so a smaller one later never ends paging early.
    server = mock_api("calm", vendor_quirks=False, total_drift=3, seed=5)
    run = run_tap(tap_config(server.url, page_size=10, sync_mode="none"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(run.ids) == sorted(ALL_IDS)
    assert "the total shrank from" in run.stderr


def test_a_missing_sync_route_keeps_every_record_and_fails_the_run(
    mock_api, pg_url, pg_schema, target_config
):
    # Every sync answers an HTML 404 ("Cannot POST ..."), as a proxy or a
    # moved route would: no evidence about any campaign.
    server = mock_api(
        "calm", vendor_quirks=False, sync_delay=0, sync_route_missing=True
    )
    config = tap_config(server.url, page_size=100, sync_concurrency=2)
    run = run_pipeline(config, target_config, timeout=120)
    assert run.tap_returncode == 1, run.tap_stderr[-3000:]
    assert run.target_returncode == 0, run.target_stderr[-3000:]
    errors = [x for x in run.tap_stderr.splitlines() if "tap-mixoads: error:" in x]
    assert len(errors) == 1, errors
    assert "POST /api/campaigns/{id}/sync: the sync endpoint is missing" in errors[0]
    # Syncing stopped at once (the calls already in flight aside) ...
    assert sum(server.stats()["sync_calls"].values()) <= 2 * 2
    # ... and every record is kept, marked as not synced in this run.
    rows, distinct, statuses = _rows_and_syncs(pg_url, pg_schema)
    assert (rows, distinct) == (100, 100)
    assert statuses.get("deferred", 0) >= 96, statuses
    assert set(statuses) <= {"deferred", "failed"}, statuses
