"""Bad settings: one clear line naming the setting, non-zero exit, no API call."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT, error_lines, run_tap, tap_config


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"email": None}, "email"),
        ({"password": None}, "password"),
        ({"email": ""}, "email"),
        ({"password": ""}, "password"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": -5}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"requests_per_minute": 0}, "requests_per_minute"),
        ({"request_timeout": 0}, "request_timeout"),
        ({"max_retries": 0}, "max_retries"),
        ({"sync_concurrency": 0}, "sync_concurrency"),
        ({"sync_enabled": "maybe"}, "sync_enabled"),
        ({"api_url": "not a url"}, "api_url"),
        ({"api_url": "ftp://example.com"}, "api_url"),
        ({"api_url": ""}, "api_url"),
        ({"page_sise": 10}, "page_sise"),
    ],
)
def test_bad_setting_is_named_in_one_line_before_any_call(calm, change, setting):
    config = tap_config(calm.url)
    for key, value in change.items():
        if value is None:
            config.pop(key)
        else:
            config[key] = value
    run = run_tap(config, timeout=60)
    assert run.returncode != 0
    errors = error_lines(run)
    assert len(errors) == 1, run.stderr
    assert f"'{setting}'" in errors[0]
    assert "Traceback" not in run.stderr
    assert "SuperSecret" not in run.stderr
    assert calm.stats()["requests"].get("POST /auth/token", 0) == 0


def test_settings_come_from_env_vars(calm):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MIXOADS_")}
    env.update(
        TAP_MIXOADS_API_URL=calm.url,
        TAP_MIXOADS_EMAIL="admin@mixoads.com",
        TAP_MIXOADS_PASSWORD="SuperSecret123!",
        TAP_MIXOADS_PAGE_SIZE="25",
        TAP_MIXOADS_REQUESTS_PER_MINUTE="6000",
        TAP_MIXOADS_SYNC_ENABLED="false",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "tap_mixoads", "--config", "ENV"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [
        json.loads(line)
        for line in proc.stdout.splitlines()
        if line.startswith('{"type":"RECORD"') or line.startswith('{"type": "RECORD"')
    ]
    assert len(records) == 100
    stats = calm.stats()
    assert stats["requests"]["GET /api/campaigns"] == 4
    assert "POST /api/campaigns/{id}/sync" not in stats["requests"]


def test_about_shows_the_password_as_secret_and_no_value():
    proc = subprocess.run(
        [sys.executable, "-m", "tap_mixoads", "--about", "--format=json"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    about = json.loads(proc.stdout)
    password = about["settings"]["properties"]["password"]
    assert password.get("secret") is True
    assert password.get("writeOnly") is True
    assert set(about["settings"]["required"]) == {"email", "password"}
