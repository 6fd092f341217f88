"""Timeouts, retries, 429 handling and fail-fast errors, against real sockets."""

from __future__ import annotations

from tests.helpers import error_lines, run_tap, tap_config

ALL_IDS = {f"campaign_{i}" for i in range(1, 101)}


def test_all_campaigns_survive_503s_and_held_open_connections(mock_api):
    # The fast profile's faults: 20% 503 on list calls, 10% hangs on all
    # calls. The tap's 1.5 s timeout turns a hang into a retry.
    server = mock_api("fast", rate_limit=0, error_rate=0.3, hang_rate=0.15, seed=7)
    run = run_tap(tap_config(server.url, page_size=10, sync_mode="none"), timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(run.ids) == sorted(ALL_IDS)
    faults = server.stats()["faults"]
    assert faults.get("error_503", 0) + faults.get("hang", 0) > 0
    assert "Retrying in" in run.stderr


def test_429_with_retry_after_header_is_waited_out(mock_api):
    # The server allows 3 calls per 2 s; the tap's own budget is far higher,
    # so it runs into 429s and must wait as told.
    server = mock_api(
        "calm",
        rate_limit=3,
        rate_window=2.0,
        retry_after_header=True,
        retry_after_body=False,
    )
    run = run_tap(tap_config(server.url, page_size=20, sync_mode="none"), timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert set(run.ids) == ALL_IDS
    stats = server.stats()
    assert stats["rate_limited"] >= 1
    assert "429" in run.stderr
    # Every 429 cost a wait of >= Retry-After (2 s): 5 pages at 3 per 2 s
    # cannot finish in under 2 s.
    assert run.seconds > 2


def test_429_with_only_a_body_retry_after_is_waited_out(mock_api):
    server = mock_api(
        "calm",
        rate_limit=3,
        rate_window=2.0,
        retry_after_header=False,
        retry_after_body=True,
    )
    run = run_tap(tap_config(server.url, page_size=20, sync_mode="none"), timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert set(run.ids) == ALL_IDS
    assert server.stats()["rate_limited"] >= 1


def test_429_without_any_retry_after_falls_back_to_backoff(mock_api):
    server = mock_api(
        "calm",
        rate_limit=3,
        rate_window=2.0,
        retry_after_header=False,
        retry_after_body=False,
    )
    run = run_tap(tap_config(server.url, page_size=20, sync_mode="none"), timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert set(run.ids) == ALL_IDS


def test_a_4xx_fails_fast_with_one_line_naming_endpoint_and_status(mock_api):
    server = mock_api("calm")
    # A base path that does not exist on the server: every /api call is a 404.
    run = run_tap(tap_config(server.url + "/v9", sync_mode="none"), timeout=60)
    assert run.returncode == 1
    errors = error_lines(run)
    assert len(errors) == 1, run.stderr
    assert "/v9/auth/token" in errors[0] or "/v9/api/campaigns" in errors[0]
    assert "404" in errors[0]
    assert "Traceback" not in run.stderr


def test_a_server_that_never_answers_ends_with_a_clear_error(mock_api):
    server = mock_api("calm", hang_rate=1.0, hang_seconds=30)
    run = run_tap(
        tap_config(server.url, request_timeout=0.5, max_retries=2, sync_mode="none"),
        timeout=120,
    )
    assert run.returncode == 1
    errors = error_lines(run)
    assert len(errors) == 1, run.stderr
    assert "timeout" in errors[0]
    assert "Traceback" not in run.stderr
    # 2 attempts, no more.
    assert server.stats()["requests"]["GET /api/campaigns"] == 2
