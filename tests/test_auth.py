"""The token-exchange authenticator: one token per run, renewed before expiry."""

from __future__ import annotations

import json
import logging
import time

import requests

from tap_mixoads.http.token import TokenSource
from tap_mixoads.tap import TapMixoAds
from tests.helpers import DEMO_PASSWORD, error_lines, run_tap, tap_config


def test_one_token_serves_the_whole_run_and_every_sync_thread(mock_api):
    server = mock_api("calm", sync_delay=0.05)
    run = run_tap(tap_config(server.url, sync_concurrency=4))
    assert run.returncode == 0
    stats = server.stats()
    assert stats["tokens_issued"] == 1
    assert stats["requests"]["POST /api/campaigns/{id}/sync"] == 100


def test_wrong_credentials_end_the_run_at_once_with_one_line(mock_api):
    server = mock_api("calm")
    config = tap_config(server.url, password="not-the-password-123")
    run = run_tap(config, timeout=60)
    assert run.returncode == 1
    errors = error_lines(run)
    assert len(errors) == 1, run.stderr
    assert "POST /auth/token answered 401" in errors[0]
    assert "email and password" in errors[0]
    assert "Traceback" not in run.stderr
    assert "not-the-password-123" not in run.stderr + run.stdout
    # No retry storm: one attempt, and no API call at all.
    stats = server.stats()
    assert stats["requests"]["POST /auth/token"] == 1
    assert "GET /api/campaigns" not in stats["requests"]


def test_short_lived_tokens_are_renewed_before_they_expire(mock_api):
    # Tokens live 1.5 s; the run takes several seconds.
    server = mock_api("calm", token_ttl=1.5, sync_delay=0.1)
    run = run_tap(tap_config(server.url, page_size=10, requests_per_minute=1200))
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(set(run.ids)) == 100
    stats = server.stats()
    assert stats["tokens_issued"] >= 3
    # Renewed early, so the server never had to refuse a stale token.
    assert stats["statuses"].get("401", 0) == 0
    assert all(r["sync_status"] == "success" for r in run.records)


def test_an_expired_token_is_renewed_and_the_call_retried_once(mock_api):
    server = mock_api("calm", token_ttl=3)
    tap = TapMixoAds(config=tap_config(server.url), validate_config=True)
    run = tap.run
    client = run.client(run.accounts[0])
    try:
        run.engine.run(client.token.bearer())
        time.sleep(3.3)
        # Pretend our clock said the token was still fresh: the server decides.
        client.token._refresh_at = time.monotonic() + 3600
        request = requests.Request(
            "GET", server.url + "/api/campaigns", params={"page": 1, "limit": 5}
        ).prepare()
        response = run.engine.run(client.transport.send(request))
    finally:
        run.close()
    assert response.status_code == 200
    stats = server.stats()
    assert stats["statuses"]["401"] == 1
    assert stats["tokens_issued"] == 2


def test_a_token_endpoint_that_fails_transiently_is_retried(mock_api):
    server = mock_api("calm", token_error_rate=0.6, seed=11)
    run = run_tap(tap_config(server.url, sync_mode="none"))
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(run.ids) == 100
    assert server.stats()["faults"]["token_error"] >= 1


def test_renewal_time_trusts_issued_at_from_the_response():
    def fake_response(body):
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps(body).encode()
        return response

    logger = logging.getLogger("test")

    async def send(_request: requests.PreparedRequest) -> requests.Response:
        return fake_response({})

    auth = TokenSource(
        api_url="http://127.0.0.1:9",
        email="e",
        password=DEMO_PASSWORD,
        client_id="c",
        send=send,
        logger=logger,
    )
    now_mono, now_wall = 1000.0, 1_700_000_000.0
    fresh = auth._parse(
        fake_response({"access_token": "t", "expires_in": 3600, "issued_at": now_wall}),
        now_mono,
        now_wall,
    )
    old = auth._parse(
        fake_response(
            {"access_token": "t", "expires_in": 3600, "issued_at": now_wall - 1800}
        ),
        now_mono,
        now_wall,
    )
    assert fresh is not None and old is not None
    assert fresh[1] == now_mono + 3600 - 60
    assert old[1] == now_mono + 1800 - 60
    assert DEMO_PASSWORD not in repr(auth)
