"""Short reads and phantom rows (issue "exit status is the truth", points 1-2).

A run never ends with exit 0 and fewer campaigns than the API says exist,
and never emits (or syncs) a campaign past the largest total seen. Each test
runs the real tap against a mock that misbehaves in exactly one way.
"""

from __future__ import annotations

import logging

import pytest
import requests

from tap_mixoads.extract import paginator as pagination
from tap_mixoads.extract.paginator import CampaignPaginator
from tap_mixoads.sync import syncer as hook
from tap_mixoads.sync.syncer import CampaignSyncer
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


def test_the_dedup_memory_is_bounded(monkeypatch):
    # The paginator remembers at most MAX_REMEMBERED_IDS ids (a sliding
    # window): memory stays flat however long the list is.
    monkeypatch.setattr(pagination, "MAX_REMEMBERED_IDS", 25)
    paginator = CampaignPaginator(page_size=10, logger=logging.getLogger("t"))
    for page in range(1, 21):
        response = requests.Response()
        response.status_code = 200
        rows = [{"id": f"c{i}"} for i in range((page - 1) * 10, page * 10)]
        response._content = requests.compat.json.dumps(
            {"data": rows, "pagination": {"total": 200}}
        ).encode()
        assert len(paginator.take_page(response).rows) == 10
        if page < 20:
            paginator.advance(response)
        assert len(paginator._seen) <= 25
        assert len(paginator._seen_order) <= 25
    assert paginator.received == 200


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


def _platform_404(campaign_id: str) -> requests.Response:
    response = requests.Response()
    response.status_code = 404
    response.headers["Content-Type"] = "application/json"
    response._content = requests.compat.json.dumps(
        {"error": "Not Found", "message": f"Campaign {campaign_id} not found."}
    ).encode()
    return response


def test_platform_404s_for_most_campaigns_mean_the_route_is_missing():
    # The platform's own JSON 404 for every campaign: "not found" for all of
    # them says the route (or the account) is wrong, not that no campaign
    # exists. Syncing stops; no record is dropped.
    sent = []

    def send(campaign_id, on_attempt):
        on_attempt()
        sent.append(campaign_id)
        raise requests.HTTPError(response=_platform_404(campaign_id))

    syncer = CampaignSyncer(
        send=send,
        concurrency=1,
        logger=logging.getLogger("t"),
    )
    records = [{"id": f"campaign_{i}"} for i in range(1, 31)]
    out = list(syncer.sync_all(records))
    assert sorted(r["id"] for r in out) == sorted(r["id"] for r in records)
    assert syncer.route_missing is not None
    assert (
        "10 of 10 campaigns answered the platform's 404 and none synced"
        in syncer.route_missing
    )
    assert sent == [f"campaign_{i}" for i in range(1, 11)]
    by_id = {r["id"]: r["sync_status"] for r in out}
    assert {by_id[f"campaign_{i}"] for i in range(1, 11)} == {"failed"}
    assert {by_id[f"campaign_{i}"] for i in range(11, 31)} == {"deferred"}


def _syncer_answering(not_found: set[str], failing: frozenset[str] = frozenset()):
    """A syncer whose calls answer the platform's 404, a 500 or a success."""

    def send(campaign_id, on_attempt):
        on_attempt()
        if campaign_id in not_found:
            raise requests.HTTPError(response=_platform_404(campaign_id))
        if campaign_id in failing:
            response = requests.Response()
            response.status_code = 500
            response._content = b'{"error": "Sync failed"}'
            raise requests.HTTPError(response=response)
        response = requests.Response()
        response.status_code = 200
        response._content = requests.compat.json.dumps(
            {"success": True, "synced_at": "2024-12-11T10:30:00.000Z"}
        ).encode()
        return response

    return CampaignSyncer(send=send, concurrency=1, logger=logging.getLogger("t"))


@pytest.mark.parametrize(
    ("min_404s", "misfires"),
    [
        pytest.param(hook.MIN_404S_FOR_MISSING_ROUTE, False, id="now"),
        # The rule before: 3 platform 404s and more 404s than successes.
        pytest.param(3, True, id="without-the-fix"),
    ],
)
def test_platform_404s_at_the_head_of_the_list_are_not_a_missing_route(
    monkeypatch, min_404s, misfires
):
    # campaign_1..3 were deleted since the listing; the route works.
    monkeypatch.setattr(hook, "MIN_404S_FOR_MISSING_ROUTE", min_404s)
    monkeypatch.setattr(hook, "MISSING_ROUTE_SHARE", 0.5 if misfires else 2 / 3)
    syncer = _syncer_answering({"campaign_1", "campaign_2", "campaign_3"})
    out = list(syncer.sync_all([{"id": f"campaign_{i}"} for i in range(1, 21)]))
    if misfires:
        assert syncer.route_missing is not None
        return
    assert syncer.route_missing is None
    assert sorted(r["id"] for r in out) == sorted(f"campaign_{i}" for i in range(4, 21))
    assert {r["sync_status"] for r in out} == {"success"}
    assert "dropped 3 listed campaigns the platform does not know (404): " in (
        syncer.summary()
    )


def test_platform_404s_for_a_clear_majority_with_failures_mean_a_missing_route():
    # 12 platform 404s and 3 failures, no success: the route, not the campaigns.
    syncer = _syncer_answering(
        {f"campaign_{i}" for i in range(1, 13)},
        failing=frozenset({"campaign_13", "campaign_14", "campaign_15"}),
    )
    order = [f"campaign_{i}" for i in (13, 14, 15, *range(1, 13))]
    out = list(syncer.sync_all([{"id": cid} for cid in order]))
    assert syncer.route_missing is not None
    assert "10 of 13 campaigns answered the platform's 404" in syncer.route_missing
    assert len(out) == 15  # every record kept


def test_platform_404s_short_of_a_clear_majority_are_campaigns():
    # 10 platform 404s but 10 failures too: not a clear majority, so those
    # campaigns are missing, not the route; with no success they are kept.
    syncer = _syncer_answering(
        {f"campaign_{i}" for i in range(11, 21)},
        failing=frozenset(f"campaign_{i}" for i in range(1, 11)),
    )
    out = list(syncer.sync_all([{"id": f"campaign_{i}"} for i in range(1, 21)]))
    assert syncer.route_missing is None
    assert len(out) == 20
    assert {r["sync_http_status"] for r in out} == {404, 500}


def test_one_platform_404_among_successes_drops_only_that_campaign():
    def send(campaign_id, on_attempt):
        on_attempt()
        if campaign_id == "campaign_7":
            raise requests.HTTPError(response=_platform_404(campaign_id))
        response = requests.Response()
        response.status_code = 200
        response._content = requests.compat.json.dumps(
            {"success": True, "synced_at": "2024-12-11T10:30:00.000Z"}
        ).encode()
        return response

    syncer = CampaignSyncer(send=send, concurrency=1, logger=logging.getLogger("t"))
    out = list(syncer.sync_all([{"id": f"campaign_{i}"} for i in range(1, 21)]))
    assert len(out) == 19 and "campaign_7" not in [r["id"] for r in out]
    assert syncer.route_missing is None
