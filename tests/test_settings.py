"""Bad settings: one clear line naming the setting, non-zero exit, no API call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tap_mixoads.config.accounts import accounts_from_config as accounts
from tap_mixoads.config.settings import Settings
from tap_mixoads.config.sources import secret_settings
from tap_mixoads.tap import TapMixoAds
from tests.helpers import (
    DEMO_EMAIL,
    DEMO_PASSWORD,
    REPO_ROOT,
    error_lines,
    run_tap,
    tap_config,
)

SECRET = "Pw-0f-An0ther-Acc0unt"


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
        ({"request_deadline": 0}, "request_deadline"),
        ({"max_rate_limit_wait": -1}, "max_rate_limit_wait"),
        ({"sync_mode": "some"}, "sync_mode"),
        ({"sync_give_up_after_runs": 0}, "sync_give_up_after_runs"),
        ({"sync_breaker_threshold": 0}, "sync_breaker_threshold"),
        ({"accounts": [{"email": "x@y"}]}, "accounts[0].client_id"),
        (
            {"accounts": [{"client_id": "a", "requests_per_minute": 0}]},
            "accounts[0].requests_per_minute",
        ),
        ({"accounts": {"client_id": "a"}}, "accounts"),
        ({"shared_budget_url": "mysql://u:SuperSecret123!@h/db"}, "shared_budget_url"),
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


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MIXOADS_")}
    env.update(settings)
    return env


def _run_env(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    # cwd is a temp dir: `--config ENV` also reads ./.env, and the user's own
    # .env in the checkout must not change what these tests see.
    return subprocess.run(
        [sys.executable, "-m", "tap_mixoads", "--config", "ENV", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def _records(stdout: str) -> list[dict]:
    """The campaigns stream's records."""
    messages = [
        json.loads(line)
        for line in stdout.splitlines()
        if line.startswith('{"type":"RECORD"') or line.startswith('{"type": "RECORD"')
    ]
    return [m["record"] for m in messages if m["stream"] == "campaigns"]


def test_settings_come_from_env_vars_as_their_declared_types(calm, tmp_path):
    env = _env(
        TAP_MIXOADS_API_URL=calm.url,
        TAP_MIXOADS_EMAIL=DEMO_EMAIL,
        TAP_MIXOADS_PASSWORD=DEMO_PASSWORD,
        TAP_MIXOADS_PAGE_SIZE="25",
        TAP_MIXOADS_REQUESTS_PER_MINUTE="6000",
        TAP_MIXOADS_REQUEST_TIMEOUT="2.5",
        TAP_MIXOADS_MAX_RATE_LIMIT_WAIT="30",
        TAP_MIXOADS_SYNC_MODE="none",
        TAP_MIXOADS_STREAM_MAPS=json.dumps({"campaigns": {"name": "__NULL__"}}),
    )
    proc = _run_env(env, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = _records(proc.stdout)
    assert len(records) == 100
    assert all("name" not in r for r in records)  # the object setting applied
    stats = calm.stats()
    assert stats["requests"]["GET /api/campaigns"] == 4
    assert "POST /api/campaigns/{id}/sync" not in stats["requests"]


def test_every_env_source_is_typed_by_the_schema(monkeypatch, tmp_path):
    """The tap's own view of the config: ints, floats, bools, arrays, objects."""
    for key in [k for k in os.environ if k.startswith("TAP_MIXOADS_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "TAP_MIXOADS_PAGE_SIZE=7\nTAP_MIXOADS_SYNC_MODE=failed\n"
        "TAP_MIXOADS_SYNC_ENABLED=\n"
    )
    monkeypatch.setenv("TAP_MIXOADS_PAGE_SIZE", "50")  # the environment wins
    monkeypatch.setenv("TAP_MIXOADS_REQUEST_TIMEOUT", "2.5")
    monkeypatch.setenv("TAP_MIXOADS_REQUEST_DEADLINE", "4")
    monkeypatch.setenv("TAP_MIXOADS_SYNC_ENABLED", "YES")
    monkeypatch.setenv(
        "TAP_MIXOADS_ACCOUNTS",
        json.dumps(
            [
                {"client_id": "a", "requests_per_minute": 3},
                {"client_id": "b", "email": "b@x", "password": SECRET},
            ]
        ),
    )
    monkeypatch.setenv("TAP_MIXOADS_EMAIL", DEMO_EMAIL)
    monkeypatch.setenv("TAP_MIXOADS_PASSWORD", DEMO_PASSWORD)
    tap = TapMixoAds(parse_env_config=True)
    config = tap.config
    assert config["page_size"] == 50
    assert config["request_timeout"] == 2.5
    assert config["request_deadline"] == 4.0
    assert config["sync_enabled"] is True
    assert config["sync_mode"] == "failed"  # from .env
    assert config["max_retries"] == 8  # the SDK filled in the default
    assert [a.client_id for a in accounts(config)] == ["a", "b"]
    first, second = accounts(config)
    assert (first.email, first.password, first.requests_per_minute) == (
        DEMO_EMAIL,
        DEMO_PASSWORD,
        3,
    )
    assert (second.email, second.password, second.requests_per_minute) == (
        "b@x",
        SECRET,
        10,
    )
    assert SECRET not in repr(second)
    settings = Settings.from_config(config, TapMixoAds.config_jsonschema)
    assert settings.sync_mode == "failed"
    assert settings.request_deadline == 4.0


def test_derived_settings():
    base = {"request_timeout": 2, "client_id": "c", "requests_per_minute": 5}
    schema = TapMixoAds.config_jsonschema
    assert Settings.from_config(base, schema).request_deadline == 6.0
    assert Settings.from_config({"sync_mode": "none"}, schema).sync_mode == "none"
    assert Settings.from_config({}, schema).sync_mode == "all"
    (one,) = accounts({**base, "email": "e", "password": "p"})
    assert (one.client_id, one.email, one.requests_per_minute) == ("c", "e", 5)


@pytest.mark.parametrize(
    ("var", "value", "expected"),  # expected: after "setting '<name>' (from <var>): "
    [
        (
            "TAP_MIXOADS_SYNC_ENABLED",
            "nope",
            "'nope' is not a boolean",
        ),
        (
            "TAP_MIXOADS_PAGE_SIZE",
            "1e5",
            "'1e5' is not a whole number",
        ),
        (
            "TAP_MIXOADS_REQUEST_TIMEOUT",
            "soon",
            "'soon' is not a number",
        ),
        (
            "TAP_MIXOADS_ACCOUNTS",
            '[{"client_id": "a",]',
            "its value is not valid JSON",
        ),
    ],
)
def test_a_wrongly_typed_env_var_is_one_line_and_exit_1(tmp_path, var, value, expected):
    env = _env(
        TAP_MIXOADS_EMAIL=DEMO_EMAIL, TAP_MIXOADS_PASSWORD=DEMO_PASSWORD, **{var: value}
    )
    proc = _run_env(env, tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if "error" in x.lower()]
    name = var.removeprefix("TAP_MIXOADS_").lower()
    prefix = f"tap-mixoads: error: Invalid config: setting '{name}' (from {var}): "
    assert line.startswith(prefix + expected), line


@pytest.mark.parametrize("word", ["true", "TRUE", "1", "yes", "Yes"])
def test_boolean_words_that_mean_true(word, tmp_path):
    from tap_mixoads.config.sources import env_config

    config, problems = env_config(
        TapMixoAds.full_config_schema(),
        "TAP_MIXOADS_",
        environ={"TAP_MIXOADS_SYNC_ENABLED": word},
        dotenv_path=tmp_path / "none",
    )
    assert (config, problems) == ({"sync_enabled": True}, [])


def test_a_malformed_config_file_is_one_line_naming_it(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"email": "a@b", "password": "x",}\n')
    run = subprocess.run(
        [sys.executable, "-m", "tap_mixoads", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert (
        f"tap-mixoads: error: Invalid config: config file {path} is not valid JSON"
        in run.stderr
    )


def test_a_config_from_a_pipe_is_read_once_and_not_left_on_disk(calm, tmp_path):
    """``--config <(vault read ...)``: a pipe can be read once only.

    The SDK reads the file after the tap checked it; without a copy it met
    an empty pipe and ended in a traceback.
    """
    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)
    config = tap_config(calm.url, schema_only=True)
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("tap-mixoads-*.json"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tap_mixoads", "--config", str(fifo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    with fifo.open("w") as fh:  # blocks until the tap opens it
        json.dump(config, fh)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert '"type":"SCHEMA"' in out.replace(" ", "")
    after = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("tap-mixoads-*.json"))
    assert after <= before  # the private copy is gone


def test_accounts_or_email_and_password(calm):
    config = tap_config(calm.url)
    del config["email"], config["password"]
    for accounts_value, wanted in [
        (None, "setting 'email' is required but missing (or give 'accounts')"),
        ([], "setting 'email' is required but missing (or give 'accounts')"),
        (
            [{"client_id": "acme", "email": "x@y"}],
            "account 'acme' has no password and there is no top-level password",
        ),
        (
            [{"client_id": "a", "email": "x@y", "password": SECRET}] * 2,
            "client_id 'a' is used by 2 accounts",
        ),
    ]:
        if accounts_value is not None:
            config["accounts"] = accounts_value
        run = run_tap(config, timeout=60)
        assert run.returncode == 1
        (line,) = error_lines(run)
        assert wanted in line
        assert SECRET not in run.stderr
    assert calm.stats()["requests"].get("POST /auth/token", 0) == 0


def test_a_budget_url_error_never_shows_its_password(calm):
    config = tap_config(calm.url, shared_budget_url="mysql://u:Db-Pa55@h/db")
    run = run_tap(config, timeout=60)
    (line,) = error_lines(run)
    assert "scheme 'mysql' is not supported" in line
    assert "Db-Pa55" not in run.stderr
    ok = tap_config(calm.url, shared_budget_url="sqlite:///x.db", sync_mode="none")
    assert run_tap(ok, "--discover", timeout=60).returncode == 0


def test_secrets_derive_from_the_schema():
    schema = TapMixoAds.full_config_schema()
    assert secret_settings(schema) == {"password", "accounts", "shared_budget_url"}
    about = json.loads(
        subprocess.run(
            [sys.executable, "-m", "tap_mixoads", "--about", "--format=json"],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=60,
            check=True,
        ).stdout
    )
    password = about["settings"]["properties"]["password"]
    assert password.get("secret") is True
    assert password.get("writeOnly") is True
    nested = about["settings"]["properties"]["accounts"]["items"]["properties"]
    assert nested["password"]["secret"] is True
    # Credentials may come from `accounts` instead: nothing is schema-required.
    assert not about["settings"].get("required")


@pytest.mark.parametrize(("campaigns", "code"), [(100, 0), (0, 1)])
def test_test_mode_exits_0_only_when_a_record_was_read(mock_api, campaigns, code):
    server = mock_api("calm", campaigns=campaigns)
    run = run_tap(tap_config(server.url), "--test", timeout=60)
    assert run.returncode == code, run.stderr[-2000:]
    assert "unhandled error" not in run.stderr
    assert "Traceback" not in run.stderr
    if code:
        (line,) = error_lines(run)
        assert "--test read no record" in line
    else:
        assert len(run.records) == 1
    assert "POST /api/campaigns/{id}/sync" not in server.stats()["requests"]


def test_test_mode_still_logs_a_real_failure(mock_api):
    server = mock_api("calm")
    config = tap_config(server.url, password="wrong-password", max_retries=1)
    run = run_tap(config, "--test", timeout=60)
    assert run.returncode == 1
    assert "check the email and password" in error_lines(run)[0]


def test_schema_flattening_settings_are_accepted_and_keep_every_record(calm):
    """Declared capability schema-flattening: campaigns have no nested objects,
    so flattening leaves the schema and the records as they are."""
    flat = run_tap(
        tap_config(
            calm.url,
            sync_mode="none",
            flattening_enabled=True,
            flattening_max_depth=1,
            flattening_separator="__",
        ),
        timeout=60,
    )
    assert flat.returncode == 0, flat.stderr[-2000:]
    plain = run_tap(tap_config(calm.url, sync_mode="none"), timeout=60)
    assert flat.ids == plain.ids
    assert len(flat.ids) == 100
    (flat_schema,) = [
        m for m in flat.messages if m["type"] == "SCHEMA" and m["stream"] == "campaigns"
    ]
    (plain_schema,) = [
        m
        for m in plain.messages
        if m["type"] == "SCHEMA" and m["stream"] == "campaigns"
    ]
    assert flat_schema["schema"]["properties"] == plain_schema["schema"]["properties"]
