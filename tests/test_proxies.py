"""Proxies from the environment still apply, read once per run.

requests scans the whole environment for proxy settings on every send; the
tap reads them once when it builds the run's wire (see
``tap_mixoads.http.wire.Wire.for_api``), so a proxy set for the run is still
used.
"""

from __future__ import annotations

import socket

import pytest

from tap_mixoads.http.wire import Wire
from tests.helpers import run_tap, tap_config


def _proxy(api_url: str) -> str | None:
    """The proxy the run's wire sends ``api_url``'s calls through, if any."""
    return Wire.for_api(api_url, max_response_bytes=1024).proxy


def test_a_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert _proxy("https://api.example.com") == "http://proxy.example:3128"


def test_no_proxy_for_the_api_host_is_respected(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "api.example.com")
    assert _proxy("https://api.example.com") is None


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
