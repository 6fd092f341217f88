"""Settings from outside that once slipped through (issue 17, §5).

On 0.x's code Meltano stored ``sync_enabled: nope`` as false and the run
made 0 sync calls with exit 0; a client id with a newline or non-Latin-1
characters, and an ``api_url`` like ``http://[::1``, ended in multi-line
errors or tracebacks.
"""

from __future__ import annotations

import pytest

from tap_mixoads.config.checks import config_problems
from tap_mixoads.tap import TapMixoAds
from tests.helpers import run_tap, tap_config
from tests.test_meltano import meltano, tap_env

SCHEMA = TapMixoAds.full_config_schema()
BASE = {"email": "e@x", "password": "p"}


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({**BASE, "sync_enabled": False}, "setting 'sync_enabled' is deprecated"),
        ({**BASE, "client_id": "a\nb"}, "setting 'client_id': 'a\\nb' holds a line"),
        ({**BASE, "client_id": "клиент"}, "holds characters outside Latin-1"),
        (
            {**BASE, "accounts": [{"client_id": "ok"}, {"client_id": "x\r\ny"}]},
            "setting 'accounts[1].client_id'",
        ),
        ({**BASE, "api_url": "http://[::1"}, "is not an http(s) URL with a host"),
        ({**BASE, "api_url": "http://h:99999"}, "is not an http(s) URL with a host"),
    ],
)
def test_each_is_one_problem_naming_the_setting(config, says):
    problems = config_problems(config, SCHEMA)
    assert len(problems) == 1, problems
    assert says in problems[0]
    assert "\n" not in problems[0] and "\r" not in problems[0]


def test_sync_enabled_true_and_latin1_ids_are_fine():
    config = {**BASE, "sync_enabled": True, "client_id": "café-1"}
    assert config_problems(config, SCHEMA) == []


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"sync_enabled": False}, "set sync_mode: none for a read-only run"),
        ({"client_id": "line\nbreak"}, "it is sent as the X-Client-ID header"),
        ({"api_url": "http://[::1"}, "is not an http(s) URL with a host"),
    ],
    ids=["sync_enabled-false", "client-id-newline", "api-url-bracket"],
)
def test_the_tap_stops_with_one_line_and_calls_nothing(calm, overrides, says):
    calm.reset()
    run = run_tap(tap_config(calm.url, **overrides))
    assert run.returncode == 1
    errors = [x for x in run.stderr.splitlines() if x.strip()]
    assert len([x for x in errors if "tap-mixoads: error:" in x]) == 1
    assert says in run.stderr and "Traceback" not in run.stderr
    assert calm.stats()["requests"].get("GET /api/campaigns", 0) == 0


def test_sync_enabled_true_warns_and_syncs(mock_api):
    server = mock_api("calm", campaigns=5, sync_delay=0)
    run = run_tap(tap_config(server.url, sync_enabled=True))
    assert run.returncode == 0
    assert "sync_enabled is deprecated and changes nothing" in run.stderr
    assert len(server.stats()["sync_calls"]) == 5


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        # Meltano parses the boolean: "nope" reaches the tap as false.
        ("TAP_MIXOADS_SYNC_ENABLED", "nope", "setting 'sync_enabled' is deprecated"),
        # request_timeout is `kind: string` (Meltano would cut 2.5 to 2): the
        # tap parses it, once, at start.
        ("TAP_MIXOADS_REQUEST_TIMEOUT", "abc", "setting 'request_timeout'"),
    ],
)
def test_through_meltano_a_bad_value_fails_config_test_and_run(
    mock_api, variable, value, says
):
    server = mock_api("calm", accounts=2, sync_delay=0)
    env = tap_env(server.url, **{variable: value})
    proc = meltano("config", "test", "tap-mixoads", env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "Plugin configuration is valid" not in out
    assert says in out, out[-3000:]
    proc = meltano("invoke", "tap-mixoads", env=env)
    assert proc.returncode == 1
    assert says in proc.stderr
    assert server.stats()["requests"].get("GET /api/campaigns", 0) == 0
