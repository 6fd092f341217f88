"""Deadlines, forgotten tokens, a shared client id (issue point 5).

- A body that trickles at 2 bytes/s never trips a read timeout: every
  attempt has a total deadline (``request_deadline``, default 3 x
  ``request_timeout``) and is then retried like a timeout.
- An API restart forgets its tokens and answers 401 without "Token
  expired": any 401 on a bearer call renews the token once and resends.
- Two runs that share a client id by mistake: after a 429 each slows down,
  so both finish, each saying once that another client seems to share it.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.helpers import error_lines, run_tap, tap_config

ALL_IDS = {f"campaign_{i}" for i in range(1, 101)}
SHARED_WARNING = "another process seems to share this client id"


def test_a_slow_steady_body_fails_each_attempt_at_its_deadline(mock_api):
    server = mock_api("calm", slow_steady_body=True, slow_steady_seconds=600)
    config = tap_config(
        server.url, request_timeout=1, request_deadline=2, max_retries=2
    )
    run = run_tap(config, timeout=120)
    assert run.returncode == 1, run.stderr[-3000:]
    (line,) = error_lines(run)
    assert line.endswith(
        "GET /api/campaigns failed on every attempt: no complete answer within "
        "the 2 s deadline (request_deadline)"
    ), line
    assert server.stats()["requests"]["GET /api/campaigns"] == 2
    assert not run.records


def test_the_default_deadline_is_three_request_timeouts(mock_api):
    server = mock_api("calm", slow_steady_body=True, slow_steady_seconds=600)
    run = run_tap(tap_config(server.url, request_timeout=1, max_retries=1))
    assert run.returncode == 1, run.stderr[-3000:]
    (line,) = error_lines(run)
    assert "within the 3 s deadline (request_deadline)" in line, line
    # The attempt ran 3 x request_timeout (not the 600 s the body would take,
    # nor the single second of one read).
    assert 3 <= run.seconds < 60


def test_a_slow_steady_body_is_retried_and_the_retry_loses_nothing(mock_api):
    server = mock_api("calm", slow_steady_body=True, slow_steady_seconds=600)

    def heal() -> None:
        # Once the first (trickling) answer has begun, serve normally.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if server.stats()["requests"].get("GET /api/campaigns"):
                server.configure(slow_steady_body=False)
                return
            time.sleep(0.05)

    healer = threading.Thread(target=heal)
    healer.start()
    config = tap_config(
        server.url, request_timeout=1, request_deadline=2, sync_mode="none"
    )
    run = run_tap(config, timeout=120)
    healer.join()
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(run.ids) == sorted(ALL_IDS)
    assert server.stats()["requests"]["GET /api/campaigns"] == 2
    assert "deadline (request_deadline)" in run.stderr  # the retry says why


def test_a_server_that_forgets_its_tokens_costs_one_renewal_per_forgetting(
    mock_api,
):
    # Tokens are forgotten (401 "Invalid token", not "Token expired") once
    # they are 1 s old, as by repeated restarts; the tap's token lives 1 h.
    server = mock_api(
        "calm", token_amnesia=True, token_amnesia_after=1.0, sync_delay=0.3
    )
    run = run_tap(tap_config(server.url, page_size=10, sync_concurrency=4))
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(run.ids) == sorted(ALL_IDS)
    assert {r["sync_status"] for r in run.records} == {"success"}
    assert server.stats()["tokens_issued"] >= 3
    assert "answered 401 (Invalid token); renewing the token" in run.stderr


def test_tokens_forgotten_mid_run_by_a_restart(mock_api):
    server = mock_api("calm", sync_delay=0.2)

    def restart() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sum(server.stats()["sync_calls"].values()) >= 20:
                server.forget_tokens()
                return
            time.sleep(0.05)

    restarter = threading.Thread(target=restart)
    restarter.start()
    run = run_tap(tap_config(server.url, page_size=100, sync_concurrency=4))
    restarter.join()
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(run.ids) == sorted(ALL_IDS)
    assert {r["sync_status"] for r in run.records} == {"success"}
    assert server.stats()["tokens_issued"] == 2
    assert server.stats()["statuses"].get("401", 0) >= 1


def test_a_fresh_token_refused_again_is_fatal_with_one_line(mock_api):
    # Every token is forgotten at once: the renewed one is refused too.
    server = mock_api("calm", token_amnesia=True, token_amnesia_after=0.000001)
    run = run_tap(tap_config(server.url, sync_mode="none", max_retries=3))
    assert run.returncode == 1, run.stderr[-3000:]
    (line,) = error_lines(run)
    assert "GET /api/campaigns answered 401" in line, line
    assert "check the email and password" not in line
    # One call, one renewal and resend: no retry loop on a refused token.
    assert server.stats()["requests"]["GET /api/campaigns"] == 2


def test_two_runs_sharing_a_client_id_both_finish(mock_api):
    # A scaled-down vendor limit: 10 calls per 1.5 s per client id, so the
    # budget matching it is 400 a minute. Two runs with the same client id
    # (no shared store) each think they own it.
    server = mock_api(
        "calm",
        rate_limit=10,
        rate_window=1.5,
        campaigns=30,
        sync_delay=0.2,
        retry_after_mode="exact",
    )
    config = tap_config(
        server.url,
        requests_per_minute=400,
        page_size=10,
        client_id="shared",
        max_retries=12,
    )
    alone = run_tap(config, timeout=300)
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert len(set(alone.ids)) == 30
    assert SHARED_WARNING not in alone.stderr
    server.reset()

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: run_tap(config, timeout=300), range(2)))
    stats = server.client_stats("shared")
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]
        assert sorted(set(run.ids)) == sorted(f"campaign_{i}" for i in range(1, 31))
        assert len(run.ids) == 30
        assert {r["sync_status"] for r in run.records} == {"success"}
        assert run.stderr.count(SHARED_WARNING) == 1, run.stderr[-3000:]
    print(
        f"one run alone {alone.seconds:.1f} s; two sharing a client id "
        f"{runs[0].seconds:.1f} s and {runs[1].seconds:.1f} s; "
        f"429s {stats['rate_limited']} of {stats['requests']} calls"
    )
