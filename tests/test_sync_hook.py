"""The post-extract sync hook: one successful sync per campaign, outcome on record."""

from __future__ import annotations

import pytest

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
    run = run_tap(tap_config(server.url, sync_enabled=False))
    assert run.returncode == 0
    assert len(run.records) == 100
    assert SYNC not in server.stats()["requests"]
    assert all(r["sync_status"] is None and r["synced_at"] is None for r in run.records)


def test_discover_about_and_test_never_sync(mock_api):
    server = mock_api("calm")
    config = tap_config(server.url)
    for args in (["--discover"], ["--about"], ["--test"]):
        run = run_tap(config, *args)
        assert run.returncode == 0, (args, run.stderr[-2000:])
    assert SYNC not in server.stats()["requests"]
