"""Meltano end to end: ``meltano run tap-mixoads target-postgres`` and friends.

These use the project's own ``meltano.yml`` and the plugins ``make install``
put into ``.meltano/`` (the tap installed editable, target-postgres from the
committed lock file), isolated from the user's own setup: an empty env file
instead of the project's ``.env`` (``meltano_isolation``) and a temp system
database (conftest), so no test leaves state in ``.meltano/meltano.db``.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from devtools.pg import target_postgres_env
from tests.conftest import query
from tests.helpers import (
    DEMO_EMAIL,
    DEMO_PASSWORD,
    REPO_ROOT,
    meltano_command,
    meltano_isolation,
    real_meltano,
)

#: The real command, for tests of signals to its process group; other tests
#: run :func:`tests.helpers.meltano_command` (the same Meltano, forked).
MELTANO = real_meltano()


def meltano_sys_dir() -> Path:
    """The Meltano system dir the tests' Meltano runs use.

    tests/conftest.py gives each pytest process (xdist worker) its own, with
    the project's installed plugins linked in (``MELTANO_SYS_DIR_ROOT``).
    """
    return Path(os.environ.get("MELTANO_SYS_DIR_ROOT", REPO_ROOT / ".meltano"))


# Meltano writes each invocation's config to a fixed path under <sys dir>/run,
# so two invocations must never overlap: every test here holds this lock (an
# OS file lock, so it also holds across pytest-xdist workers that share a sys
# dir; by default each worker has its own, see tests/conftest.py).
LOCK_PATH = meltano_sys_dir() / "tests.lock"


@pytest.fixture(autouse=True, scope="module")
def _installed() -> None:
    # `make test` runs `meltano install` first; a missing install is a failure
    # to report, never a reason to skip.
    plugin_dir = REPO_ROOT / ".meltano" / "extractors" / "tap-mixoads" / "venv"
    assert plugin_dir.exists(), "run `make install` (meltano install) first"


def meltano(*args: str, env: dict[str, str], timeout: float = 300):
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_MIXOADS_", "TARGET_POSTGRES_"))
    }
    full_env.update(env)
    full_env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    with LOCK_PATH.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return subprocess.run(
            [meltano_command(), *meltano_isolation(), *args],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env=full_env,
            timeout=timeout,
            check=False,
        )


def run_args(*, suffix: str | None = None) -> list[str]:
    """``run tap-mixoads target-postgres`` under its own state id.

    A unique state-id suffix per test keeps runs from sharing Meltano state;
    the leading global options keep the user's ``.env`` out (they are also
    given by ``meltano()``: repeating them is harmless).
    """
    return [
        *meltano_isolation(),
        "run",
        "--state-id-suffix",
        suffix or uuid.uuid4().hex[:8],
        "tap-mixoads",
        "target-postgres",
    ]


def tap_env(url: str, **extra: str) -> dict[str, str]:
    return {
        "TAP_MIXOADS_API_URL": url,
        "TAP_MIXOADS_EMAIL": DEMO_EMAIL,
        "TAP_MIXOADS_PASSWORD": DEMO_PASSWORD,
        "TAP_MIXOADS_REQUESTS_PER_MINUTE": "6000",
        # Fractional: Meltano passes it as text (kind: string), the tap parses it.
        "TAP_MIXOADS_REQUEST_TIMEOUT": "2.5",
        **extra,
    }


def test_meltano_run_loads_every_campaign_once_and_reruns_update(
    mock_api, pg_url, pg_schema
):
    server = mock_api("fast", rate_limit=0, seed=8)
    env = {**tap_env(server.url), **target_postgres_env(pg_url, pg_schema)}
    suffix = uuid.uuid4().hex[:8]
    for _ in range(2):
        proc = meltano(
            *run_args(suffix=suffix),
            env=env,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        rows = query(
            pg_url,
            "select count(*), count(distinct id), "
            "count(*) filter (where sync_status = 'success') "
            f'from "{pg_schema}".campaigns',
        )
        assert rows == [(100, 100, 100)]
    assert suffix not in " ".join(_project_state_ids())


def _project_state_ids() -> list[str]:
    """State ids in the project's own system database (the user's)."""
    db = REPO_ROOT / ".meltano" / "meltano.db"
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master")}
        if "state" not in tables:
            return []
        return [r[0] for r in conn.execute("select state_id from state")]


def test_catalog_selection_is_honoured(mock_api, pg_url, pg_schema):
    server = mock_api("calm")
    env = {
        **tap_env(server.url, TAP_MIXOADS_SYNC_MODE="none"),
        **target_postgres_env(pg_url, pg_schema),
        "TAP_MIXOADS__SELECT": json.dumps(["campaigns.id", "campaigns.budget"]),
    }
    proc = meltano(
        *run_args(),
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    columns = {
        row[0]
        for row in query(
            pg_url,
            "select column_name from information_schema.columns "
            f"where table_schema = '{pg_schema}' and table_name = 'campaigns'",
        )
    }
    # The key (client_id, id) is always emitted, selected or not.
    assert columns == {"client_id", "id", "budget"}
    assert query(pg_url, f'select count(*) from "{pg_schema}".campaigns') == [(100,)]


def test_meltano_invoke_discover_prints_a_valid_catalog():
    proc = meltano(
        "invoke", "tap-mixoads", "--discover", env=tap_env("http://127.0.0.1:9")
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    catalog = json.loads(proc.stdout)
    # campaigns, and the run's own streams: sync_events and sync_runs.
    assert [s["tap_stream_id"] for s in catalog["streams"]] == [
        "campaigns",
        "sync_events",
        "sync_runs",
    ]
    stream = catalog["streams"][0]
    assert stream["tap_stream_id"] == "campaigns"
    assert stream["key_properties"] == ["client_id", "id"]
    assert {"id", "budget", "created_at", "sync_status", "synced_at"} <= set(
        stream["schema"]["properties"]
    )


def test_meltano_config_list_redacts_the_password():
    proc = meltano("config", "list", "tap-mixoads", env=tap_env("http://127.0.0.1:9"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "password" in proc.stdout
    assert DEMO_PASSWORD not in proc.stdout + proc.stderr


def test_meltano_reads_typed_values_from_env_vars():
    """A fractional timeout, an integer and a JSON array, all through Meltano."""
    env = tap_env(
        "http://127.0.0.1:9",
        TAP_MIXOADS_PAGE_SIZE="50",
        TAP_MIXOADS_ACCOUNTS=json.dumps([{"client_id": "a"}, {"client_id": "b"}]),
    )
    proc = meltano("config", "list", "tap-mixoads", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "request_timeout" in proc.stdout
    assert "current value: '2.5'" in proc.stdout
    # The tap itself, as Meltano starts it, parses and checks the values:
    proc = meltano("invoke", "tap-mixoads", "--discover", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_meltano_uses_the_env_file_it_is_given(tmp_path):
    """The isolation the other tests rely on: the given env file, not .env."""
    env_file = tmp_path / "custom.env"
    env_file.write_text("TAP_MIXOADS_PAGE_SIZE=77\n")
    proc = meltano("--env-file", str(env_file), "config", "list", "tap-mixoads", env={})
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("page_size ")]
    assert "current value: 77" in line


@pytest.mark.parametrize(("campaigns", "code"), [(100, 0), (0, 1)])
def test_meltano_invoke_test_is_true_and_quiet(mock_api, campaigns, code):
    server = mock_api("calm", campaigns=campaigns)
    proc = meltano("invoke", "tap-mixoads", "--test", env=tap_env(server.url))
    assert proc.returncode == code, proc.stderr[-3000:]
    assert "unhandled error" not in proc.stderr
    assert "Traceback" not in proc.stderr
    if code:
        assert "tap-mixoads: error: --test read no record" in proc.stderr


def test_example_job_and_schedule_are_declared():
    proc = meltano("job", "list", "--format=json", env={})
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = json.loads(proc.stdout)["jobs"]
    assert {
        "job_name": "mixoads-to-postgres",
        "tasks": ["tap-mixoads target-postgres"],
    } in jobs
    proc = meltano("schedule", "list", "--format=json", env={})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "daily-mixoads" in proc.stdout


def test_project_meltano_folder_is_private_to_the_user():
    """Meltano writes each run's config (password included) under .meltano/run."""
    mode = stat.S_IMODE((REPO_ROOT / ".meltano").stat().st_mode)
    assert mode == 0o700, oct(mode)


def test_meltano_state_carries_changed_mode_and_removals(mock_api, pg_url, pg_schema):
    """The packed ledger survives Meltano's state backend between two runs."""
    server = mock_api("calm", campaigns=30)
    env = {
        **tap_env(server.url, TAP_MIXOADS_SYNC_MODE="changed"),
        **target_postgres_env(pg_url, pg_schema),
    }
    suffix = uuid.uuid4().hex[:8]
    first = meltano(*run_args(suffix=suffix), env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert len(server.stats()["sync_calls"]) == 30
    server.reset()
    server.configure(
        edited_campaigns=["1:campaign_1"], deleted_campaigns=["1:campaign_30"]
    )
    second = meltano(*run_args(suffix=suffix), env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert server.stats()["sync_calls"] == {"campaign_1": 1}
    rows = query(
        pg_url,
        f'select id, name from "{pg_schema}".campaigns where removed_at is not null',
    )
    assert rows == [("campaign_30", "Campaign 30")]
