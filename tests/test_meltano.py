"""Meltano end to end: ``meltano run tap-mixoads target-postgres`` and friends.

These use the project's own ``meltano.yml`` and the plugins ``make install``
put into ``.meltano/`` (the tap installed editable, target-postgres from the
committed lock file).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from devtools.pg import target_postgres_env
from tests.conftest import query
from tests.helpers import DEMO_EMAIL, DEMO_PASSWORD, REPO_ROOT

MELTANO = str(Path(sys.executable).parent / "meltano")

# Meltano writes each invocation's config to a fixed path under .meltano/run,
# so two invocations must never overlap: every test here holds this lock
# (an OS file lock, so it also holds across pytest-xdist workers).
LOCK_PATH = REPO_ROOT / ".meltano" / "tests.lock"


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
            [MELTANO, *args],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env=full_env,
            timeout=timeout,
            check=False,
        )


def run_args(*, suffix: str | None = None) -> list[str]:
    """``run tap-mixoads target-postgres`` under its own state id.

    A unique state-id suffix per test keeps runs from sharing Meltano state.
    """
    return [
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
        "TAP_MIXOADS_REQUEST_TIMEOUT": "2",
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


def test_catalog_selection_is_honoured(mock_api, pg_url, pg_schema):
    server = mock_api("calm")
    env = {
        **tap_env(server.url, TAP_MIXOADS_SYNC_ENABLED="false"),
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
    assert columns == {"id", "budget"}
    assert query(pg_url, f'select count(*) from "{pg_schema}".campaigns') == [(100,)]


def test_meltano_invoke_discover_prints_a_valid_catalog():
    proc = meltano(
        "invoke", "tap-mixoads", "--discover", env=tap_env("http://127.0.0.1:9")
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    catalog = json.loads(proc.stdout)
    (stream,) = catalog["streams"]
    assert stream["tap_stream_id"] == "campaigns"
    assert stream["key_properties"] == ["id"]
    assert {"id", "budget", "created_at", "sync_status", "synced_at"} <= set(
        stream["schema"]["properties"]
    )


def test_meltano_config_list_redacts_the_password():
    proc = meltano("config", "list", "tap-mixoads", env=tap_env("http://127.0.0.1:9"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "password" in proc.stdout
    assert DEMO_PASSWORD not in proc.stdout + proc.stderr
