"""No secret leaks anywhere, at DEBUG level, down every failure path.

The mock is started with a password nobody else uses, so a leak is a plain
substring search. The secrets looked for: the password, the Basic header value
(``base64(email:password)``), and every bearer token the mock issued in the
test. The places searched: the tap's stdout and stderr, target-postgres's
stdout and stderr, Meltano's output, the tap's one-line error messages, and
every row the loader wrote (the table dumped as text).

Log levels: singer-sdk 0.54 reads ``<PLUGIN>_LOGLEVEL`` or ``LOGLEVEL`` from
the environment (``singer_sdk.plugin_base._plugin_log_level``); Meltano takes
``--log-level=debug``.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from devtools.pg import target_postgres_env
from tests.conftest import query
from tests.helpers import DEMO_EMAIL, REPO_ROOT, run_pipeline, run_tap, tap_config
from tests.test_meltano import meltano, meltano_sys_dir, run_args

PASSWORD = "Pw-LEAKCHECK-7f3a91"
BASIC = base64.b64encode(f"{DEMO_EMAIL}:{PASSWORD}".encode()).decode()
DEBUG_ENV = {"LOGLEVEL": "DEBUG"}
#: Everything the mock may throw at once, at rates that keep the run short.
FAILURE_KNOBS: dict[str, Any] = {
    "error_rate": 0.1,
    "sync_error_rate": 0.1,
    "hang_rate": 0.05,
    "hang_seconds": 3,
    "html_500_rate": 0.05,
    "reset_rate": 0.05,
    "truncated_json_rate": 0.05,
    "token_ttl": 2.0,
    # A token exchange is retried like any call; with the 2 s TTL a run
    # makes ~25, and at 0.3 one of them used up its 6 attempts now and then.
    "token_error_rate": 0.2,
    "sync_delay": 0.05,
    "rate_limit": 25,
    "rate_window": 1.0,
    "sync_fail_ids": "3,33",
    # campaign_33's sync is answered 429 every time: the 429 path is taken
    # on every run, however slow the machine (the server's 25 calls/s limit
    # alone was not reached on a loaded CI run).
    "sync_429_ids": "33",
}


def secrets_of(server: Any) -> list[str]:
    tokens = server.tokens()
    return [PASSWORD, BASIC, *tokens]


def assert_no_secret(texts: dict[str, str], secrets: list[str]) -> None:
    for where, text in texts.items():
        for secret in secrets:
            kind = "password" if secret == PASSWORD else "credential/token"
            assert secret not in text, f"{kind} leaked into {where}"


def dump_table(pg_url: str, schema: str) -> str:
    rows = query(pg_url, f'select t::text from "{schema}".campaigns t')
    return "\n".join(row[0] for row in rows)


def debug_config(url: str, **overrides: Any) -> dict[str, Any]:
    settings = {
        "password": PASSWORD,
        "request_timeout": 1.0,
        "max_retries": 6,
        "page_size": 25,
        "sync_concurrency": 8,
        **overrides,
    }
    return tap_config(url, **settings)


@pytest.mark.slow
def test_pipeline_through_every_failure_path_leaks_nothing(
    mock_api, pg_url, pg_schema, target_config, monkeypatch
):
    # run_pipeline passes the environment on: both plugins log at DEBUG.
    monkeypatch.setenv("LOGLEVEL", "DEBUG")
    server = mock_api("calm", password=PASSWORD, seed=31, **FAILURE_KNOBS)
    # A 2 s timeout still cuts the 3 s hangs; at 1 s, a loaded machine timed
    # out healthy list calls too, and one page used up its 6 attempts.
    config = debug_config(server.url, request_timeout=2.0)
    run = run_pipeline(config, target_config, timeout=240)
    assert run.tap_returncode == 0, run.tap_stderr[-3000:]
    assert run.target_returncode == 0, run.target_stderr[-3000:]
    stats = server.stats()
    # The failure paths were really taken.
    assert stats["tokens_issued"] >= 2
    assert stats["rate_limited"] > 0
    assert {"error_503", "token_error"} <= set(stats["faults"]), stats["faults"]
    assert "DEBUG" in run.tap_stderr and "DEBUG" in run.target_stderr
    table = dump_table(pg_url, pg_schema)
    # The recorded sync failures (campaigns 3 and 33 always fail: 500s and
    # 429s) are in the rows; the last attempt's reason varies (500, a hang, a
    # reset, ...).
    # Under this storm (30% faults per attempt, and a budget 4x the server's
    # limit) another campaign may rarely fail all 6 attempts too: it is then
    # recorded the same way, which is what this test checks for secrets.
    failed_rows = [line for line in table.splitlines() if ",failed," in line]
    failed = {line.split(",", 2)[1] for line in failed_rows}
    assert {"campaign_3", "campaign_33"} <= failed
    # A sanity bound, not the point: on a loaded machine the 1 s timeout
    # fails more attempts, and a few more campaigns may use up all 6.
    assert len(failed) <= 20, failed
    assert_no_secret(
        {
            "tap stderr": run.tap_stderr,
            "target stderr": run.target_stderr,
            "target stdout": run.target_stdout,
            "postgres rows": table,
        },
        secrets_of(server),
    )


def test_tap_stdout_at_debug_leaks_nothing(mock_api):
    # The pipeline test cannot see the tap's stdout (it goes to the target).
    server = mock_api("calm", password=PASSWORD, seed=32, **FAILURE_KNOBS)
    # As in the pipeline test above: a 2 s timeout still cuts the 3 s hangs;
    # at 1 s, a machine busy with two CPU burners timed out healthy list
    # calls too, and one page used up its 6 attempts. 8 attempts: with 30%
    # of the API's answers faulty and the 2 s token (1 s left on a busy box,
    # so almost every retry also trades for a token, 10% of those failing),
    # one call in ~400 used up 6 attempts, failing about one busy run in
    # three; what this test checks is the output of a run that succeeds.
    config = debug_config(server.url, request_timeout=2.0, max_retries=8)
    run = run_tap(config, env=DEBUG_ENV, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(set(run.ids)) == 100
    assert_no_secret(
        {"tap stdout": run.stdout, "tap stderr": run.stderr}, secrets_of(server)
    )


@pytest.mark.parametrize(
    ("knobs", "settings", "expect"),
    [
        pytest.param({}, {"password": "not-" + PASSWORD}, "401", id="wrong-password"),
        pytest.param(
            {"token_error_rate": 1.0},
            {},
            "/auth/token failed",
            id="token-endpoint-down",
        ),
        pytest.param(
            {"hang_rate": 1.0, "hang_seconds": 3}, {}, "timeout", id="api-hangs"
        ),
        pytest.param({"error_rate": 1.0}, {}, "503", id="api-503-forever"),
        pytest.param(
            {"token_ttl": 0.5, "rate_limit": 1, "rate_window": 5.0},
            {"max_retries": 2},
            "429",
            id="429-and-expiring-tokens",
        ),
    ],
)
def test_failed_runs_leak_nothing(mock_api, knobs, settings, expect):
    server = mock_api("calm", password=PASSWORD, seed=33, **knobs)
    config = debug_config(server.url, **{"max_retries": 2, **settings})
    run = run_tap(config, env=DEBUG_ENV, timeout=120)
    assert run.returncode == 1, run.stderr[-3000:]
    errors = [line for line in run.log_lines() if "tap-mixoads: error:" in line]
    assert len(errors) == 1, run.stderr[-3000:]
    assert expect in errors[0]
    secrets = secrets_of(server)
    if "password" in settings:
        wrong = settings["password"]
        wrong_basic = base64.b64encode(f"{DEMO_EMAIL}:{wrong}".encode()).decode()
        secrets += [wrong, wrong_basic]
    assert_no_secret(
        {"tap stdout": run.stdout, "tap stderr": run.stderr, "error": errors[0]},
        secrets,
    )


def test_about_does_not_show_the_password(mock_api):
    config = debug_config("http://127.0.0.1:9")
    for args in (
        ["--about"],
        ["--about", "--format=json"],
        ["--about", "--format=markdown"],
    ):
        run = run_tap(config, *args, env=DEBUG_ENV, timeout=60)
        assert run.returncode == 0, run.stderr[-2000:]
        assert "password" in run.stdout
        assert_no_secret({f"tap {args}": run.stdout + run.stderr}, [PASSWORD, BASIC])


def meltano_env(url: str, pg_url: str, schema: str, **extra: str) -> dict[str, str]:
    return {
        "TAP_MIXOADS_API_URL": url,
        "TAP_MIXOADS_EMAIL": DEMO_EMAIL,
        "TAP_MIXOADS_PASSWORD": PASSWORD,
        "TAP_MIXOADS_REQUESTS_PER_MINUTE": "6000",
        "TAP_MIXOADS_REQUEST_TIMEOUT": "1",
        "TAP_MIXOADS_MAX_RETRIES": "6",
        "TAP_MIXOADS_PAGE_SIZE": "25",
        "TAP_MIXOADS_SYNC_CONCURRENCY": "8",
        "LOGLEVEL": "DEBUG",
        **target_postgres_env(pg_url, schema),
        **extra,
    }


@pytest.fixture
def _meltano_installed() -> None:
    plugin_dir = REPO_ROOT / ".meltano" / "extractors" / "tap-mixoads" / "venv"
    assert plugin_dir.exists(), "run `make install` (meltano install) first"


@pytest.mark.slow
@pytest.mark.usefixtures("_meltano_installed")
def test_meltano_run_at_debug_leaks_nothing(mock_api, pg_url, pg_schema):
    server = mock_api("calm", password=PASSWORD, seed=34, **FAILURE_KNOBS)
    env = meltano_env(server.url, pg_url, pg_schema)
    proc = meltano(
        "--log-level=debug",
        *run_args(),
        env=env,
    )
    # At debug the tail is Meltano's own lines: the tap's verdict goes first.
    verdict = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert proc.returncode == 0, "\n".join([*verdict[-5:], proc.stderr[-2000:]])
    assert server.stats()["tokens_issued"] >= 2
    table = dump_table(pg_url, pg_schema)
    assert table.count("\n") == 99  # 100 rows
    assert_no_secret(
        {
            "meltano stdout": proc.stdout,
            "meltano stderr": proc.stderr,
            "postgres rows": table,
            **meltano_run_files(),
        },
        secrets_of(server),
    )


def meltano_run_files() -> dict[str, str]:
    """What Meltano left under <sys dir>/run (each invocation's config.json).

    Meltano deletes an invocation's config when it ends; one left behind
    would hold the password in plain text. PASSWORD is unique to this file,
    so other tests' concurrent invocations cannot trip this check. The sys
    dir is the one these tests' Meltano runs use (``.meltano`` unless
    tests/conftest.py gave this process its own).
    """
    run_dir = meltano_sys_dir() / "run"
    files = {}
    for path in run_dir.rglob("*") if run_dir.exists() else []:
        if path.is_file():
            try:
                files[str(path)] = path.read_text(errors="replace")
            except OSError:
                continue
    return files


@pytest.mark.slow
@pytest.mark.usefixtures("_meltano_installed")
def test_meltano_run_with_a_wrong_password_leaks_nothing(mock_api, pg_url, pg_schema):
    server = mock_api("calm", password=PASSWORD, seed=35)
    wrong = "not-" + PASSWORD
    env = meltano_env(server.url, pg_url, pg_schema, TAP_MIXOADS_PASSWORD=wrong)
    proc = meltano(
        "--log-level=debug",
        *run_args(),
        env=env,
    )
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "check the email and password" in output
    wrong_basic = base64.b64encode(f"{DEMO_EMAIL}:{wrong}".encode()).decode()
    assert_no_secret(
        {"meltano output": output, **meltano_run_files()},
        [PASSWORD, wrong, wrong_basic, BASIC],
    )


@pytest.mark.usefixtures("_meltano_installed")
def test_meltano_config_list_hides_the_password():
    env = {
        "TAP_MIXOADS_API_URL": "http://127.0.0.1:9",
        "TAP_MIXOADS_EMAIL": DEMO_EMAIL,
        "TAP_MIXOADS_PASSWORD": PASSWORD,
    }
    for args in (
        ("config", "list", "tap-mixoads"),
        ("--log-level=debug", "config", "list", "tap-mixoads"),
    ):
        proc = meltano(*args, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "password" in proc.stdout
        assert_no_secret({f"meltano {args}": proc.stdout + proc.stderr}, [PASSWORD])
