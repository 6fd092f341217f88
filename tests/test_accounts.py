"""Many accounts: one process with several, and several processes on one id.

Real sockets (the mock as a subprocess), real tap processes, real
target-postgres into a real PostgreSQL. Windows are short: the mock allows
10 calls per 1.5 s per X-Client-ID and the tap paces at 360/min (6/s against
the server's 6.67/s, ~10% slack). Nothing asserts a tight time: the one timed
check (accounts run side by side, not one after another) has a bound of 2x
the floor, and the measured ratio is printed (``pytest -s``) for the report.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from pathlib import Path
from typing import Any

import pytest

from mock_api.accounts import account_client_id, account_credentials
from mock_api.testing import MockServer
from tests.conftest import query
from tests.helpers import (
    PipelineRun,
    TapRun,
    error_lines,
    mock_accounts,
    run_pipeline,
    run_tap,
    tap_config,
)

LIMIT = 10
WINDOW_S = 1.5
RPM = 360
SYNC_DELAY = 0.2
CAMPAIGNS = 100
#: One account's strictly needed calls (one list call of 100, 100 syncs) can
#: end no sooner than 10 full windows after the first, plus one sync.
FLOOR_S = (CAMPAIGNS + 1 - 1) // LIMIT * WINDOW_S + SYNC_DELAY
WRONG_PASSWORD = "Wrong-Pass-" + "7f3a9c"


def limited_api(mock_api: Any, **knobs: Any) -> MockServer:
    """The vendor's limit shape in a short window, no transport faults."""
    settings: dict[str, Any] = {
        "accounts": 3,
        "campaigns": CAMPAIGNS,
        "rate_limit": LIMIT,
        "rate_window": WINDOW_S,
        "sync_delay": SYNC_DELAY,
        "error_rate": 0.0,
        "hang_rate": 0.0,
        **knobs,
    }
    server: MockServer = mock_api("fast", **settings)
    return server


def accounts(*ks: int, wrong_password_for: int | None = None) -> list[dict[str, Any]]:
    """``accounts`` entries for mock accounts ``ks``, one client id each."""
    entries = mock_accounts(*ks)
    for k, entry in zip(ks, entries, strict=True):
        if k == wrong_password_for:
            entry["password"] = WRONG_PASSWORD
    return entries


def multi_config(
    url: str, entries: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    config = tap_config(url, accounts=entries, requests_per_minute=RPM, **extra)
    del config["email"], config["password"]  # every account brings its own
    return config


def rows_per_client(pg_url: str, schema: str) -> dict[str, tuple[int, int]]:
    """client_id -> (rows, distinct ids) in the test's campaigns table."""
    rows = query(
        pg_url,
        "select client_id, count(*), count(distinct id) "
        f'from "{schema}".campaigns group by client_id',
    )
    return {client: (n, ids) for client, n, ids in rows}


def assert_no_secret(*outputs: str) -> None:
    for text in outputs:
        assert WRONG_PASSWORD not in text
        for k in (1, 2, 3):
            assert account_credentials(k)[1] not in text


def test_three_accounts_in_one_process_load_in_about_one_accounts_time(
    mock_api, pg_url, pg_schema, target_config
):
    server = limited_api(mock_api)
    config = multi_config(server.url, accounts(1, 2, 3), sync_concurrency=4)
    run = run_pipeline(config, target_config, timeout=240)
    assert (run.tap_returncode, run.target_returncode) == (0, 0), run.tap_stderr[-3000:]
    totals = query(
        pg_url,
        "select count(*), count(distinct (client_id, id)), "
        "count(*) filter (where sync_status = 'success') "
        f'from "{pg_schema}".campaigns',
    )
    assert totals == [(300, 300, 300)]
    stats = server.client_stats()
    for k in (1, 2, 3):
        one = stats[account_client_id(k)]
        assert one["rate_limited"] == 0, (k, one)
        assert one["max_in_window"] <= LIMIT, (k, one)
        assert one["accounts"] == {str(k): CAMPAIGNS + 1}, (k, one)
    ratio = run.seconds / FLOOR_S
    print(
        f"\n3 accounts: wall {run.seconds:.2f} s, one account's floor "
        f"{FLOOR_S:.2f} s, ratio {ratio:.2f}"
    )
    # Serial accounts would need 3x the floor; side by side is about 1x.
    assert ratio < 2.0, f"wall {run.seconds:.1f} s vs floor {FLOOR_S:.1f} s"


def test_an_account_with_a_wrong_password_fails_alone(
    mock_api, pg_url, pg_schema, target_config
):
    server = limited_api(mock_api)
    config = multi_config(server.url, accounts(1, 2, 3, wrong_password_for=2))
    run = run_pipeline(config, target_config, timeout=240)
    assert run.tap_returncode != 0
    assert run.target_returncode == 0, run.target_stderr[-3000:]
    assert rows_per_client(pg_url, pg_schema) == {
        account_client_id(1): (CAMPAIGNS, CAMPAIGNS),
        account_client_id(3): (CAMPAIGNS, CAMPAIGNS),
    }
    errors = _error_lines(run)
    assert len(errors) == 1, errors
    assert f"'{account_client_id(2)}'" in errors[0]
    assert "401" in errors[0]
    assert_no_secret(run.tap_stderr, run.target_stderr, run.target_stdout)
    assert server.client_stats(account_client_id(2))["requests"] == 0


def test_an_account_rate_limited_for_good_does_not_stop_the_others(
    mock_api, pg_url, pg_schema, target_config
):
    # client-2's third list call and every later one: 429 "come back in an
    # hour"; the tap waits at most 2 s, so that account fails fast.
    server = limited_api(
        mock_api,
        force_429_after=2,
        force_429_client=account_client_id(2),
        retry_after_seconds=3600,
    )
    config = multi_config(
        server.url,
        accounts(1, 2, 3),
        page_size=10,
        sync_mode="none",
        max_rate_limit_wait=2,
    )
    run = run_pipeline(config, target_config, timeout=240)
    assert run.tap_returncode != 0
    assert run.target_returncode == 0, run.target_stderr[-3000:]
    loaded = rows_per_client(pg_url, pg_schema)
    assert loaded[account_client_id(1)] == (CAMPAIGNS, CAMPAIGNS)
    assert loaded[account_client_id(3)] == (CAMPAIGNS, CAMPAIGNS)
    # What client-2 read before the 429s (two pages) is loaded, nothing more.
    assert loaded.get(account_client_id(2), (0, 0))[0] <= 20
    errors = _error_lines(run)
    assert len(errors) == 1, errors
    assert f"'{account_client_id(2)}'" in errors[0] and "429" in errors[0]
    stats = server.client_stats()
    assert stats[account_client_id(2)]["rate_limited"] >= 1
    for k in (1, 3):
        assert stats[account_client_id(k)]["rate_limited"] == 0


def _error_lines(run: PipelineRun) -> list[str]:
    return error_lines(TapRun(run.tap_returncode, "", run.tap_stderr, run.seconds))


# --- several processes, one client id ------------------------------------

PROCESSES = 4
#: 20 list calls per process (page_size 5): ~3.3 s alone at 6/s, so the four
#: processes overlap even when their start-ups are a second apart.
SHARED_PAGE_SIZE = 5


def run_processes(config: dict[str, Any]) -> list[TapRun]:
    with concurrent.futures.ThreadPoolExecutor(PROCESSES) as pool:
        futures = [pool.submit(run_tap, config, timeout=240) for _ in range(PROCESSES)]
        return [f.result() for f in futures]


@pytest.mark.parametrize("store", ["postgres", "sqlite", "none"])
def test_processes_sharing_a_client_id_share_its_budget(
    mock_api, pg_url, tmp_path: Path, store: str
):
    """Four taps, one client id: shared, no 429; not shared (control), 429s."""
    server = limited_api(mock_api, accounts=1)
    client_id = f"shared-{uuid.uuid4().hex[:8]}"  # a fresh budget table
    shared = {
        "postgres": pg_url,
        "sqlite": f"sqlite:///{tmp_path / 'budget.db'}",
        "none": None,
    }[store]
    config = tap_config(
        server.url,
        client_id=client_id,
        requests_per_minute=RPM,
        page_size=SHARED_PAGE_SIZE,
        sync_mode="none",
    )
    if shared is not None:
        config["shared_budget_url"] = shared
    runs = run_processes(config)
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]
        assert sorted(run.ids) == sorted(f"campaign_{i}" for i in range(1, 101))
    one = server.client_stats(client_id)
    calls = PROCESSES * CAMPAIGNS // SHARED_PAGE_SIZE
    print(
        f"\n{PROCESSES} processes, store {store}: {one['requests']} calls, "
        f"{one['rate_limited']} x 429, busiest window {one['max_in_window']}/{LIMIT}"
    )
    if shared is None:
        # The control: the same processes without the store overrun the id.
        assert one["rate_limited"] > 0, one
    else:
        assert one["rate_limited"] == 0, one
        assert one["requests"] == calls
        assert one["max_in_window"] <= LIMIT, one
