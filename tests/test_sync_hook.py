"""The post-extract sync hook: one successful sync per campaign, outcome on record."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
import requests

from tap_mixoads.sync import syncer as hook
from tests.helpers import run_tap, tap_config

SYNC = "POST /api/campaigns/{id}/sync"


def test_every_campaign_is_synced_exactly_once_with_its_outcome(mock_api):
    server = mock_api("calm", sync_delay=0.05)
    run = run_tap(tap_config(server.url, page_size=10, sync_concurrency=4))
    assert run.returncode == 0, run.stderr[-2000:]
    stats = server.stats()
    assert len(run.records) == 100
    assert set(stats["sync_success"]) == set(run.ids)
    assert all(count == 1 for count in stats["sync_success"].values())
    for record in run.records:
        assert record["sync_status"] == "success"
        assert record["synced_at"]
        assert record["sync_http_status"] == 200
        assert record["sync_error"] is None
    assert "synced 100/100" in run.stderr


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrent_syncs_never_exceed_the_setting(mock_api, concurrency):
    server = mock_api("calm", sync_delay=0.2, campaigns=24)
    run = run_tap(tap_config(server.url, sync_concurrency=concurrency))
    assert run.returncode == 0, run.stderr[-2000:]
    assert server.stats()["max_concurrent_syncs"] == concurrency


def test_slow_syncs_overlap(mock_api):
    # 40 syncs of 0.5 s at concurrency 4: about 5 s, not 20 s.
    server = mock_api("calm", sync_delay=0.5, campaigns=40)
    run = run_tap(tap_config(server.url, sync_concurrency=4))
    assert run.returncode == 0
    assert run.seconds < 15


def test_permanent_sync_failures_are_recorded_not_lost(mock_api):
    server = mock_api("calm", sync_fail_ids="7,42")
    run = run_tap(tap_config(server.url, page_size=10, max_retries=3))
    assert run.returncode == 0, run.stderr[-2000:]
    by_id = {r["id"]: r for r in run.records}
    assert len(by_id) == 100
    for failed in ("campaign_7", "campaign_42"):
        assert by_id[failed]["sync_status"] == "failed"
        assert by_id[failed]["synced_at"] is None
        assert by_id[failed]["sync_http_status"] == 500
        assert "500" in by_id[failed]["sync_error"]
        assert by_id[failed]["sync_attempts"] == 3
    ok = [r for r in run.records if r["sync_status"] == "success"]
    assert len(ok) == 98
    summary = [line for line in run.log_lines() if "synced 98/100" in line]
    assert summary, run.stderr[-2000:]
    assert "campaign_7 (500 after 3 attempts)" in summary[0]
    assert "campaign_42 (500 after 3 attempts)" in summary[0]


def test_sync_disabled_sends_no_sync_call(mock_api):
    server = mock_api("calm")
    run = run_tap(tap_config(server.url, sync_mode="none"))
    assert run.returncode == 0
    assert len(run.records) == 100
    assert SYNC not in server.stats()["requests"]
    # Read-only: no sync column at all, so a loader keeps each row's outcome.
    assert all("sync_status" not in r and "synced_at" not in r for r in run.records)


def test_discover_about_and_test_never_sync(mock_api):
    server = mock_api("calm")
    config = tap_config(server.url)
    for args in (["--discover"], ["--about"], ["--test"]):
        run = run_tap(config, *args)
        assert run.returncode == 0, (args, run.stderr[-2000:])
    assert SYNC not in server.stats()["requests"]


def test_platform_404s_at_the_head_of_the_list_drop_only_those_campaigns(mock_api):
    # campaign_1..3 are listed but the platform no longer knows them; the
    # route works. Their 404s answer at once, before any success: the old
    # rule (3 platform 404s, more than the successes) judged the route
    # missing here, deferring every other campaign and exiting 1.
    server = mock_api("calm", campaigns=30, sync_delay=0.05, sync_unknown_ids="1,2,3")
    run = run_tap(tap_config(server.url, sync_concurrency=4))
    assert run.returncode == 0, run.stderr[-3000:]
    expected = {f"campaign_{i}" for i in range(4, 31)}
    assert sorted(run.ids) == sorted(expected)
    assert {r["sync_status"] for r in run.records} == {"success"}
    assert set(server.stats()["sync_success"]) == expected
    assert "the sync endpoint is missing" not in run.stderr
    assert (
        "dropped 3 listed campaigns the platform does not know (404): "
        "campaign_1, campaign_2, campaign_3"
    ) in run.stderr


def test_platform_404s_for_the_majority_mean_the_route_is_missing(mock_api):
    # 20 of 30 campaigns unknown and listed first: 10 platform 404s and no
    # success is evidence against the route, not against 10 campaigns.
    server = mock_api(
        "calm",
        campaigns=30,
        sync_delay=0.05,
        sync_unknown_ids=",".join(str(i) for i in range(1, 21)),
    )
    run = run_tap(tap_config(server.url, sync_concurrency=2))
    assert run.returncode == 1, run.stderr[-3000:]
    errors = [x for x in run.log_lines() if x.startswith("tap-mixoads: error:")]
    assert len(errors) == 1, errors
    assert (
        "the sync endpoint is missing (10 of 10 campaigns answered the " in (errors[0])
    )
    # Every record kept: none dropped on 404s the route itself explains.
    assert sorted(run.ids) == sorted(f"campaign_{i}" for i in range(1, 31))
    assert server.stats()["sync_success"] == {}


def test_a_campaign_in_retry_backoff_does_not_hold_back_the_others(mock_api):
    # campaign_3's sync answers 500 on every attempt, with backoff between
    # (about 2.6 s over 3 attempts). Before, records left in extraction
    # order: everything listed after campaign_3 waited for its last attempt
    # (progress frozen at "synced 2/.."), then came out behind it.
    server = mock_api("calm", campaigns=40, sync_delay=0.05, sync_fail_ids="3")
    run = run_tap(tap_config(server.url, sync_concurrency=4, max_retries=3))
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.ids) == 40 and len(set(run.ids)) == 40
    # The other 39 campaigns went out, synced, before campaign_3's record.
    assert run.ids[-1] == "campaign_3"
    assert run.records[-1]["sync_status"] == "failed"
    assert run.records[-1]["sync_attempts"] == 3
    assert {r["sync_status"] for r in run.records[:-1]} == {"success"}
    assert "synced 39/40; failed: campaign_3 (500 after 3 attempts)" in run.stderr


def test_records_leave_as_syncs_finish_and_never_more_than_the_window_wait(
    monkeypatch,
):
    # In-process: campaign_1's sync hangs until the 49 others went out (10 s
    # at most). With the old oldest-first drain nothing listed after it could
    # leave before it: campaign_1 came out first, after the 10 s.
    monkeypatch.setattr(hook, "WINDOW_PER_WORKER", 2)
    release = asyncio.Event()

    async def send(campaign_id, on_attempt):
        on_attempt()
        if campaign_id == "campaign_1":
            # 10 s at most: then it answers all the same
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(release.wait(), 10)
        response = requests.Response()
        response.status_code = 200
        response._content = b'{"success": true, "synced_at": "2024-12-11T10:30:00Z"}'
        return response

    syncer = hook.CampaignSyncer(
        send=send, concurrency=2, logger=logging.getLogger("t")
    )
    pulled = 0

    async def records():
        nonlocal pulled
        for i in range(1, 51):
            pulled += 1
            yield {"id": f"campaign_{i}"}

    out, most_waiting = [], 0

    async def drain():
        nonlocal most_waiting
        async for record in syncer.sync_all(records()):
            out.append(record["id"])
            most_waiting = max(most_waiting, pulled - len(out))
            if len(out) == 49:
                release.set()

    asyncio.run(drain())
    assert out[-1] == "campaign_1" and len(set(out)) == 50
    assert most_waiting <= 2 * 2  # the window: concurrency x WINDOW_PER_WORKER
