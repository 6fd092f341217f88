"""One API fault at a time, at a high rate: every campaign arrives, each synced.

Each case starts the calm mock with exactly one fault turned up (seeded), runs
the real tap with the sync hook on, and checks three things:

- nothing lost, nothing doubled: exactly the 100 campaigns, once each;
- every record carries its sync outcome. The faults here are all transient
  and the tap retries ``max_retries`` (8) times, so the expected outcome is
  ``success`` for every campaign, and a success is only believed when the
  server really completed that campaign's sync;
- the fault really happened: the mock's stats count it (a test that passes
  because the fault was never injected proves nothing).

The data-policy faults (missing/wrong-typed/extra fields, drifting totals)
live in ``test_data_policy.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import run_tap, tap_config

ALL_IDS = {f"campaign_{i}" for i in range(1, 101)}
INTEGER_FIELDS = ("impressions", "clicks", "conversions")


def fast_config(url: str, **overrides: Any) -> dict[str, Any]:
    """Tap settings for a mock without a rate limit: many workers, no pacing."""
    settings = {
        "page_size": 25,
        "sync_concurrency": 8,
        "requests_per_minute": 60000,
        **overrides,
    }
    return tap_config(url, **settings)


def assert_all_synced(run: Any, stats: dict[str, Any]) -> None:
    """100 distinct campaigns, each with a believable ``success`` outcome."""
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.ids) == 100, run.stderr[-3000:]
    assert set(run.ids) == ALL_IDS
    for record in run.records:
        assert record["sync_status"] == "success", record
        assert record["synced_at"], record
        assert record["sync_http_status"] == 200, record
        assert record["sync_error"] is None, record
        assert record["sync_attempts"] >= 1, record
        # The tap may only claim what the server really did.
        assert stats["sync_success"].get(record["id"], 0) >= 1, record["id"]
        assert isinstance(record["budget"], int | float), record
        for field in INTEGER_FIELDS:
            assert type(record[field]) is int, record
    assert "synced 100/100" in run.stderr


# (fault kind counted by the mock, mock knobs, extra tap settings)
# The rates are high (the chaos profile uses 5 %); higher ones would only
# make runs slow, because the tap's backoff starts at 1 s and doubles.
TRANSPORT_FAULTS = [
    pytest.param("error_503", {"error_rate": 0.3, "sync_error_rate": 0.2}, {}),
    pytest.param("html_500", {"html_500_rate": 0.2}, {}),
    pytest.param(
        "hang", {"hang_rate": 0.15, "hang_seconds": 3}, {"request_timeout": 0.5}
    ),
    pytest.param("reset", {"reset_rate": 0.2}, {}),
    pytest.param("truncated_json", {"truncated_json_rate": 0.2}, {}),
    # Each slow body takes 2 s in total, longer than the 1.5 s timeout: the
    # timeout is per read, so a body that keeps arriving is waited for.
    pytest.param("slow_body", {"slow_body_rate": 0.3, "slow_body_seconds": 2.0}, {}),
]


@pytest.mark.parametrize(("kind", "knobs", "settings"), TRANSPORT_FAULTS)
def test_transport_fault_loses_nothing(mock_api, kind, knobs, settings):
    server = mock_api("calm", seed=11, **knobs)
    config = fast_config(server.url, **settings)
    run = run_tap(config, timeout=120)
    stats = server.stats()
    assert stats["faults"].get(kind, 0) > 0, stats["faults"]
    assert_all_synced(run, stats)
    (report,) = run.stream_records("sync_runs")
    if kind == "reset":
        # A reset comes after the platform ran the call: each sync attempt
        # the tap got no answer to is a sync the platform ran once more.
        ran_again = sum(n - 1 for n in stats["sync_calls"].values() if n > 1)
        assert ran_again > 0
        assert report["sync_unanswered"] == ran_again
    if kind != "slow_body":
        assert "Retrying in" in run.stderr
    else:
        # Slow is not broken: no attempt was given up on.
        assert "Retrying in" not in run.stderr, run.stderr[-2000:]


@pytest.mark.parametrize(
    ("header", "body"),
    [(True, True), (False, False)],
    ids=["with-retry-after", "without-retry-after"],
)
def test_429_storm_loses_nothing(mock_api, header, body):
    # The server allows 20 calls per 0.5 s; the tap thinks it may send about
    # 60 a second with 4 sync workers, so it runs into a storm of 429s (the
    # header-only and body-only variants are in test_retries.py).
    server = mock_api(
        "calm",
        rate_limit=20,
        rate_window=0.5,
        retry_after_header=header,
        retry_after_body=body,
        seed=12,
    )
    config = fast_config(server.url, page_size=50, sync_concurrency=4, max_retries=10)
    run = run_tap(config, timeout=180)
    stats = server.stats()
    assert stats["rate_limited"] > 0
    assert_all_synced(run, stats)
    assert "429" in run.stderr


def test_tokens_expiring_every_two_seconds_are_renewed(mock_api):
    # A 2 s token lifetime over a run of several seconds: the tap must renew
    # ahead of expiry and, when a token dies in flight, renew and resend.
    server = mock_api("calm", token_ttl=2.0, sync_delay=0.1, seed=13)
    config = fast_config(server.url, page_size=10, sync_concurrency=4)
    run = run_tap(config, timeout=120)
    stats = server.stats()
    assert run.seconds > 2.5, "the run must outlive one token"
    assert stats["tokens_issued"] >= 2, stats
    assert_all_synced(run, stats)


def test_token_endpoint_failing_transiently_is_retried(mock_api):
    # Short-lived tokens force several token calls; half of them fail.
    server = mock_api(
        "calm", token_error_rate=0.5, token_ttl=1.0, sync_delay=0.05, seed=14
    )
    config = fast_config(server.url, page_size=10, sync_concurrency=4)
    run = run_tap(config, timeout=120)
    stats = server.stats()
    assert stats["faults"].get("token_error", 0) > 0, stats["faults"]
    assert stats["tokens_issued"] >= 2, stats
    assert_all_synced(run, stats)
    # One retry line format for every endpoint, the token endpoint included.
    assert "Retrying in" in run.stderr
    assert "POST /auth/token answered 503" in run.stderr
    assert "Backing off" not in run.stderr


def test_sync_that_keeps_failing_is_recorded_with_a_reason(mock_api):
    # The other half of the contract: when retries run out, the campaign is
    # still delivered, marked failed with why, alongside faults elsewhere.
    server = mock_api("calm", sync_fail_ids="5,50", reset_rate=0.2, seed=15)
    run = run_tap(fast_config(server.url, max_retries=3), timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(run.ids) == sorted(ALL_IDS)
    assert server.stats()["faults"].get("reset", 0) > 0
    by_id = {r["id"]: r for r in run.records}
    for campaign_id in ("campaign_5", "campaign_50"):
        record = by_id[campaign_id]
        assert record["sync_status"] == "failed"
        assert record["synced_at"] is None
        assert record["sync_error"], record
        assert (
            "/api/campaigns/" in record["sync_error"]
            or "connection" in (record["sync_error"])
        )
    failed = {r["id"] for r in run.records if r["sync_status"] == "failed"}
    assert {"campaign_5", "campaign_50"} <= failed
    for record in run.records:
        assert record["sync_status"] in {"success", "failed"}
        if record["sync_status"] == "failed":
            assert record["sync_error"]
    assert f"synced {100 - len(failed)}/100" in run.stderr
