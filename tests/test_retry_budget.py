"""One call = at most ``max_retries`` attempts, token exchange included.

On 0.x's code the token exchange had a retry loop of its own inside every
call's loop: against an API that is down, 8 x 8 = 64 attempts and 10 min
17 s before the account failed, the progress line saying "about 0 s left"
all along, and with several accounts no retry line said whose it was.
"""

from __future__ import annotations

import re
import socket

from tests.helpers import mock_accounts, run_tap, tap_config


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _retry_lines(stderr: str) -> list[str]:
    return [x for x in stderr.splitlines() if "Retrying in" in x]


def test_a_refused_connection_fails_after_max_retries_attempts_in_all():
    run = run_tap(tap_config(_closed_port_url(), max_retries=3), timeout=120)
    assert run.returncode == 1
    retries = _retry_lines(run.stderr)
    assert len(retries) == 2, retries  # 3 attempts in all (0.x: 3 x 3 = 9)
    assert all("POST /auth/token: connection refused" in x for x in retries)
    (line,) = [x for x in run.stderr.splitlines() if "tap-mixoads: error:" in x]
    assert "POST /auth/token failed on every attempt: connection refused" in line
    assert run.seconds < 60  # two backoff steps of at most 1 and 2 s


def test_a_failing_token_endpoint_costs_max_retries_exchanges(mock_api):
    server = mock_api("calm", token_error_rate=1.0)
    run = run_tap(tap_config(server.url, max_retries=4), timeout=120)
    assert run.returncode == 1
    assert server.stats()["requests"]["POST /auth/token"] == 4  # 0.x: 16
    assert len(_retry_lines(run.stderr)) == 3


def test_every_retry_and_token_line_names_the_account_and_endpoint(mock_api):
    server = mock_api(
        "calm", accounts=2, campaigns=20, sync_delay=0, error_rate=0.4, seed=7
    )
    config = tap_config(
        server.url, accounts=mock_accounts(1, 2), page_size=5, max_retries=8
    )
    run = run_tap(config, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    retries = _retry_lines(run.stderr)
    assert retries, "the mock's 503s should have caused retries"
    endpoint = re.compile(r"(GET|POST) /(api|auth)/")
    for line in retries:
        assert re.search(r"\[client client-[12]\] Retrying in", line), line
        assert endpoint.search(line), line
    tokens = [x for x in run.stderr.splitlines() if "Obtained a bearer token" in x]
    assert len(tokens) == 2
    assert all("[client client-" in x for x in tokens)


def test_the_progress_line_does_not_guess_before_a_page_is_read(mock_api):
    server = mock_api("calm", token_error_rate=1.0)
    run = run_tap(
        tap_config(server.url, max_retries=3),
        env={"MIXOADS_PROGRESS_SECONDS": "0.3"},
        timeout=120,
    )
    progress = [x for x in run.stderr.splitlines() if "campaigns [client" in x]
    assert progress, run.stderr[-2000:]
    assert all("time left not known until a page is read" in x for x in progress)
    assert not [x for x in progress if "about 0 s left" in x]
