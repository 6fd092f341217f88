"""Proxies from the environment still apply, read once per account.

requests scans the whole environment for proxy settings on every send; the
tap reads them once when it builds an account's session (see
``tap_mixoads.http.client``), so a proxy set for the run is still used.
"""

from __future__ import annotations

import socket

import pytest
import requests

from tap_mixoads.http.budget import RequestPacer
from tap_mixoads.http.client import AccountClient
from tests.helpers import run_tap, tap_config


def _client(api_url: str) -> AccountClient:
    return AccountClient(
        api_url=api_url,
        client_id="c1",
        email="a@b.c",
        password="pw",
        budget=RequestPacer(6000),
        timeout=2.0,
        deadline=6.0,
        max_tries=1,
        max_rate_limit_wait=1.0,
        pool_maxsize=2,
    )


def _resolved(client: AccountClient, url: str) -> dict[str, str]:
    prepared = requests.Request("GET", url).prepare()
    return requests.utils.resolve_proxies(
        prepared, client.session.proxies, client.session.trust_env
    )


def test_a_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = _client("https://api.example.com")
    url = "https://api.example.com/api/campaigns"
    assert _resolved(client, url)["https"] == "http://proxy.example:3128"


def test_no_proxy_for_the_api_host_is_respected(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "api.example.com")
    client = _client("https://api.example.com")
    assert "https" not in _resolved(client, "https://api.example.com/api/campaigns")


def test_a_run_goes_through_the_proxy_it_was_given(calm):
    """End to end: a proxy that is not there makes the run fail; NO_PROXY heals it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]  # closed once the block ends
    config = tap_config(calm.url, max_retries=1, sync_mode="none")
    env = {"HTTP_PROXY": f"http://127.0.0.1:{dead}", "NO_PROXY": "", "no_proxy": ""}
    refused = run_tap(config, env=env)
    assert refused.returncode != 0
    assert calm.stats()["requests"] == {}  # nothing reached the API directly
    healed = run_tap(config, env={**env, "NO_PROXY": "127.0.0.1"})
    assert healed.returncode == 0, healed.stderr[-2000:]
    assert len(healed.records) == 100
