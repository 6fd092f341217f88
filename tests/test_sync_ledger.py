"""The sync ledger across runs: targeted re-syncs, carried outcomes, dead, breaker.

Every test runs the real tap piped into the real target-postgres against the
real mock, passes the previous run's final state with ``--state`` (as
Meltano does) and checks the rows in PostgreSQL, the state the target
emitted and what the mock saw (``sync_calls`` per campaign).
"""

from __future__ import annotations

from typing import Any

from tests.conftest import query
from tests.helpers import PipelineRun, run_pipeline, tap_config

CLIENT = "tap-mixoads"  # the default client_id: the one account's state key


def account_state(run: PipelineRun, client: str = CLIENT) -> dict[str, Any]:
    """The account's ledger entry in the state the target emitted last."""
    state = run.final_state
    assert state is not None, run.target_stdout[-2000:]
    return state["bookmarks"]["campaigns"]["accounts"][client]


def ok(run: PipelineRun, *, tap_rc: int = 0) -> PipelineRun:
    assert run.tap_returncode == tap_rc, run.tap_stderr[-3000:]
    assert run.target_returncode == 0, run.target_stderr[-3000:]
    return run


def outcomes(pg_url: str, schema: str) -> dict[str, tuple[Any, ...]]:
    """campaign id -> (sync_status, synced_at, http_status, error, attempts)."""
    rows = query(
        pg_url,
        "select id, sync_status, synced_at::text, sync_http_status, sync_error, "
        f'sync_attempts from "{schema}".campaigns',
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def sync_calls(server: Any) -> dict[str, int]:
    calls: dict[str, int] = server.client_stats(CLIENT)["sync_calls"]
    return calls


FAILING = ["campaign_7", "campaign_42", "campaign_99"]


def test_failed_mode_resyncs_exactly_the_failures(
    mock_api, pg_url, pg_schema, target_config
):
    server = mock_api("calm", sync_fail_ids=",".join(FAILING), sync_delay=0.3)
    config = tap_config(server.url, page_size=100, max_retries=2, sync_concurrency=4)

    first = ok(run_pipeline(config, target_config))
    first_calls = sync_calls(server)
    first_api = server.client_stats(CLIENT)["requests"]
    ledger = account_state(first)["ledger"]
    assert sorted(ledger) == sorted(FAILING)
    assert all(entry["status"] == "failed" for entry in ledger.values())
    before = outcomes(pg_url, pg_schema)
    assert len(before) == 100
    assert sorted(c for c, o in before.items() if o[0] == "failed") == sorted(FAILING)
    assert sum(o[0] == "success" for o in before.values()) == 97

    server.configure(sync_fail_ids=[])
    server.reset()
    second = ok(
        run_pipeline(
            {**config, "sync_mode": "failed"}, target_config, state=first.final_state
        )
    )
    second_calls = sync_calls(server)
    second_api = server.client_stats(CLIENT)["requests"]
    # Exactly one call per earlier failure, and no other campaign synced.
    assert second_calls == dict.fromkeys(FAILING, 1)
    assert account_state(second)["ledger"] == {}
    after = outcomes(pg_url, pg_schema)
    assert len(after) == 100
    assert all(o[0] == "success" for o in after.values()), after
    for cid, outcome in before.items():
        if cid not in FAILING:
            assert after[cid] == outcome, cid  # synced_at etc. unchanged
    # Seconds, not a full run: 1 list call + 3 syncs of 0.3 s.
    assert second.seconds < 30
    figures = {
        "partial-failure run (all)": (first_calls, first_api, first.seconds),
        "re-run (sync_mode failed)": (second_calls, second_api, second.seconds),
    }
    for name, (calls, api, wall) in figures.items():
        print(
            f"FIGURES {name}: {sum(calls.values())} sync calls to "
            f"{len(calls)} campaigns, {api} /api calls, wall {wall:.2f} s"
        )


def test_none_mode_keeps_every_earlier_outcome(
    mock_api, pg_url, pg_schema, target_config
):
    server = mock_api("calm", sync_fail_ids="3,5", campaigns=30)
    config = tap_config(server.url, max_retries=1)
    first = ok(run_pipeline(config, target_config))
    before = outcomes(pg_url, pg_schema)
    assert sum(o[0] == "failed" for o in before.values()) == 2
    assert sum(o[0] == "success" and o[1] is not None for o in before.values()) == 28

    server.reset()
    second = ok(
        run_pipeline(
            {**config, "sync_mode": "none"}, target_config, state=first.final_state
        )
    )
    assert sync_calls(server) == {}
    assert outcomes(pg_url, pg_schema) == before
    assert account_state(second) == account_state(first)
    assert "sync_mode none: no sync call" in second.tap_stderr


def test_a_campaign_failing_every_run_becomes_dead_until_explicitly_retried(
    mock_api, pg_url, pg_schema, target_config
):
    server = mock_api("calm", sync_fail_ids="5", campaigns=20)
    config = tap_config(server.url, max_retries=1, sync_give_up_after_runs=2)
    state = None
    for run_number in (1, 2):
        server.reset()
        run = ok(run_pipeline(config, target_config, state=state))
        state = run.final_state
        assert sync_calls(server)["campaign_5"] == 1, run_number
    entry = account_state(run)["ledger"]["campaign_5"]
    assert entry["status"] == "dead" and entry["runs"] == 2
    assert "gave up on campaign_5" in run.tap_stderr

    server.reset()
    third = ok(run_pipeline(config, target_config, state=state))
    calls = sync_calls(server)
    assert "campaign_5" not in calls  # `all` does not retry a dead campaign
    assert len(calls) == 19
    status, synced_at, _http, error, _attempts = outcomes(pg_url, pg_schema)[
        "campaign_5"
    ]
    assert (status, synced_at) == ("dead", None)
    assert "gave up after 2 failing runs" in error and "500" in error

    server.configure(sync_fail_ids=[])
    server.reset()
    fourth = ok(
        run_pipeline(
            {**config, "sync_mode": "failed", "sync_retry_dead": True},
            target_config,
            state=third.final_state,
        )
    )
    assert sync_calls(server) == {"campaign_5": 1}
    assert outcomes(pg_url, pg_schema)["campaign_5"][0] == "success"
    assert account_state(fourth)["ledger"] == {}


def test_the_breaker_defers_the_rest_when_the_sync_endpoint_is_down(
    mock_api, pg_url, pg_schema, target_config
):
    """Time bound with max_retries R=2, threshold B=3, concurrency C=4.

    At most B + C - 1 = 6 campaigns start a sync before the breaker opens
    (the threshold-th failure opens it; the other C - 1 workers were already
    busy), each with R attempts: at most 12 sync calls. A failing campaign
    takes R answers (instant 503s here, ``request_deadline`` 4.5 s at
    worst) plus one backoff step (<= 1 s); the 6 campaigns run in
    ceil(6 / C) = 2 waves, so syncing costs <= 2 x (1 s + 2 x 4.5 s) = 20 s
    at worst, ~2 s here; the budget (6,000/min) adds 0.01 s per call. With
    start-up, the one list call and the load we allow 60 s for a busy
    machine; without the breaker, 100 campaigns x 2 attempts would be 200
    calls and >= 25 s of backoff alone.
    """
    server = mock_api("calm", sync_down=True)
    config = tap_config(
        server.url, max_retries=2, sync_breaker_threshold=3, sync_concurrency=4
    )
    first = ok(run_pipeline(config, target_config))
    calls = sync_calls(server)
    assert 3 * 2 <= sum(calls.values()) <= (3 + 4 - 1) * 2, calls
    assert first.seconds < 60
    rows = outcomes(pg_url, pg_schema)
    assert len(rows) == 100
    failed = {c for c, o in rows.items() if o[0] == "failed"}
    deferred = {c for c, o in rows.items() if o[0] == "deferred"}
    assert failed == set(calls)
    assert len(failed) + len(deferred) == 100
    assert all("breaker" in rows[c][3] for c in deferred)
    breaker_lines = [
        line for line in first.tap_stderr.splitlines() if "breaker opened" in line
    ]
    assert len(breaker_lines) == 1, first.tap_stderr[-3000:]
    ledger = account_state(first)["ledger"]
    assert set(ledger) == failed | deferred

    server.configure(sync_down=False)
    server.reset()
    second = ok(run_pipeline(config, target_config, state=first.final_state))
    assert sync_calls(server) == dict.fromkeys(rows, 1)
    after = outcomes(pg_url, pg_schema)
    assert {o[0] for o in after.values()} == {"success"}
    assert account_state(second)["ledger"] == {}
    print(
        f"FIGURES breaker run: {sum(calls.values())} sync calls, "
        f"{len(failed)} failed, {len(deferred)} deferred, wall {first.seconds:.2f} s"
    )


def test_a_429_asking_for_an_hour_stops_the_account_at_once(
    mock_api, pg_url, pg_schema, target_config
):
    # 20 calls accepted (1 list call + 19 syncs), then every /api call is
    # answered 429 "come back in 3,600 s"; max_rate_limit_wait is 300.
    server = mock_api(
        "calm", force_429_after=20, retry_after_seconds=3600, sync_delay=0.1
    )
    config = tap_config(server.url, page_size=100)
    run = ok(run_pipeline(config, target_config, timeout=120), tap_rc=1)
    assert run.seconds < 60  # not 3,600 s, nor one retry
    stats = server.client_stats(CLIENT)
    # At once: only the calls already in flight met the 429 (<= concurrency).
    assert 1 <= stats["rate_limited"] <= 4, stats
    assert sum(stats["sync_calls"].values()) <= 19 + 4
    lines = [
        line
        for line in run.tap_stderr.splitlines()
        if "[client tap-mixoads]" in line and "asking to wait 3600 s" in line
    ]
    assert lines, run.tap_stderr[-3000:]
    assert "tap-mixoads: error:" in run.tap_stderr
    # What was extracted is loaded; what was not synced is deferred.
    rows = outcomes(pg_url, pg_schema)
    assert len(rows) == 100
    statuses = [o[0] for o in rows.values()]
    assert statuses.count("success") == 19
    assert statuses.count("deferred") == 81
    # The state (with the account's ledger) was emitted and reached the target.
    ledger = account_state(run)["ledger"]
    assert len(ledger) == 81
    assert {entry["status"] for entry in ledger.values()} == {"deferred"}
    assert all(
        entry["runs"] == 0 for entry in ledger.values()
    )  # not the campaign's fault


def test_a_429_asking_for_an_hour_mid_listing_keeps_what_was_extracted(
    mock_api, pg_url, pg_schema, target_config
):
    server = mock_api("calm", force_429_after=15, retry_after_seconds=3600)
    config = tap_config(server.url, page_size=10)
    run = ok(run_pipeline(config, target_config, timeout=120), tap_rc=1)
    assert run.seconds < 60
    rows = outcomes(pg_url, pg_schema)
    assert 10 <= len(rows) < 100
    listed = len(rows)
    ledger = account_state(run)["ledger"]
    synced = account_state(run)["synced"]
    assert len(ledger) + len(synced) == listed
    assert "asking to wait 3600 s" in run.tap_stderr
