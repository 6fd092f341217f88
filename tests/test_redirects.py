"""Hostile transport: redirects, slow headers, body bombs (issue 17, §1-2).

On 0.x's code a list or sync call answered 302/307 with a Location on
another host had the bearer token re-added by the transport after requests
stripped it, so the other host received ``Authorization: Bearer ...``; a
redirected token call deadlocked; headers trickling at 1 byte/s hung
forever; a gzip bomb peaked at 6.9 GB RSS. The other origin here is a real
HTTP server on another port that records every request it gets.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import typing as t
from collections.abc import Iterator

import pytest

from tests.helpers import run_tap, tap_config


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: t.ClassVar[list[dict[str, str]]] = []

    def _record(self) -> None:
        type(self).seen.append({"path": self.path, **dict(self.headers)})
        body = b'{"data": [], "pagination": {"total": 0}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _record

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def other_origin() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A real server on another port: where a hostile redirect points."""
    seen: list[dict[str, str]] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()


def _error_line(stderr: str) -> str:
    lines = [x for x in stderr.splitlines() if x.startswith("tap-mixoads: error:")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


@pytest.mark.parametrize("status", [302, 307, 308])
def test_a_list_redirect_to_another_origin_is_not_followed(
    mock_api, other_origin, status
):
    url, seen = other_origin
    server = mock_api(
        "calm",
        redirect_route="list",
        redirect_status=status,
        redirect_location=f"{url}/steal?page=1&key=secret",
    )
    run = run_tap(tap_config(server.url, max_retries=2))
    assert run.returncode == 1, run.stderr[-3000:]
    assert seen == []  # not a single request, so no token either
    line = _error_line(run.stderr)
    assert f"GET /api/campaigns answered {status} redirecting to 127.0.0.1:" in line
    assert "another origin than api_url; not followed" in line
    assert "secret" not in run.stderr and "key=" not in line
    assert not run.records


def test_a_sync_redirect_to_another_origin_sends_it_nothing(mock_api, other_origin):
    url, seen = other_origin
    server = mock_api(
        "calm",
        campaigns=5,
        sync_delay=0,
        redirect_route="sync",
        redirect_status=307,
        redirect_location=f"{url}/api/campaigns/campaign_1/sync",
    )
    run = run_tap(tap_config(server.url, max_retries=1, sync_breaker_threshold=10))
    assert seen == []
    assert {r["sync_status"] for r in run.records} == {"failed"}
    errors = {r["sync_error"] for r in run.records}
    assert all("answered 307 redirecting to 127.0.0.1:" in e for e in errors), errors


def test_a_same_origin_redirect_is_followed_through_the_budget(mock_api):
    server = mock_api(
        "calm",
        campaigns=30,
        sync_delay=0,
        redirect_route="list",
        redirect_status=302,
        redirect_location="/api/campaigns?page=1&limit=100",
        redirect_times=1,
    )
    run = run_tap(tap_config(server.url, page_size=100))
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.ids) == 30
    # The redirect and the hop it led to are two API calls, both counted.
    assert server.stats()["requests"]["GET /api/campaigns"] == 2
    (report,) = run.stream_records("sync_runs")
    assert report["calls"]["GET /api/campaigns"] == {"200": 1, "302": 1}


def test_a_redirected_token_call_fails_at_once_with_one_line(mock_api, other_origin):
    _, seen = other_origin
    server = mock_api("calm", redirect_route="token", redirect_location="/login")
    run = run_tap(tap_config(server.url, request_deadline=5), timeout=60)
    assert run.returncode == 1
    line = _error_line(run.stderr)
    assert "POST /auth/token answered 302 redirecting to 127.0.0.1:" in line
    assert "/login" in line and "never redirected" in line
    assert run.seconds < 30  # 0.x deadlocked here
    assert server.stats()["requests"].get("GET /api/campaigns", 0) == 0
    assert seen == []


def test_a_redirect_without_location_is_one_line(mock_api):
    server = mock_api("calm", redirect_route="list", redirect_status=302)
    run = run_tap(tap_config(server.url))
    assert run.returncode == 1
    assert "GET /api/campaigns answered 302 without a Location" in _error_line(
        run.stderr
    )


def test_headers_trickling_in_are_bounded_by_request_deadline(mock_api):
    server = mock_api(
        "calm",
        slow_headers=True,
        slow_steady_bytes_per_second=4,
        slow_steady_seconds=60,
    )
    config = tap_config(
        server.url, request_timeout=1, request_deadline=2, max_retries=2
    )
    run = run_tap(config, timeout=120)
    assert run.returncode == 1
    line = _error_line(run.stderr)
    assert "no complete answer within the 2 s deadline (request_deadline)" in line
    assert run.seconds < 45  # 2 attempts of 2 s and one backoff; 0.x: forever


@pytest.mark.parametrize("kind", ["gzip", "plain"])
def test_a_body_past_max_response_bytes_is_retried_then_one_line(mock_api, kind):
    server = mock_api("calm", body_bomb=kind, body_bomb_bytes=64 * 2**20)
    config = tap_config(server.url, max_retries=2, max_response_bytes=2**20)
    run = run_tap(config, timeout=120)
    assert run.returncode == 1
    line = _error_line(run.stderr)
    assert "GET /api/campaigns answered 200 with a body over max_response_bytes" in line
    assert "(1048576 bytes decoded)" in line
    assert server.stats()["requests"]["GET /api/campaigns"] == 2  # retried once


def test_http_request_duration_is_the_request_not_the_wait_for_a_turn(mock_api):
    """0.x reported multiples of the budget's turn (0.306 s for a 0.2 s call)."""
    server = mock_api("calm", campaigns=12, sync_delay=0)
    # 150 calls/min: a turn every ~0.4 s; the mock answers in milliseconds.
    run = run_tap(tap_config(server.url, requests_per_minute=150, page_size=100))
    assert run.returncode == 0, run.stderr[-3000:]
    durations = [
        json.loads(m.group(1))["value"]
        for m in re.finditer(r"METRIC: (\{.*http_request_duration.*\})", run.stderr)
    ]
    assert len(durations) >= 12
    assert max(durations) < 0.2, durations
