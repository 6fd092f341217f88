"""Two shards of the tap run by Meltano in parallel (meltano.yml's example).

Each shard is an inherited plugin (``tap-mixoads--shard-a``/``-b``) with its
own accounts and its own job; both ``meltano run`` processes run at once.
Meltano keeps a plugin's catalog and state files under
``.meltano/run/<plugin name>/`` with fixed names, so only distinct plugin
names can run side by side, and its system database takes both runs' state,
so it is on PostgreSQL here (SQLite is a single file that two processes
write at once).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from devtools.pg import target_postgres_env
from mock_api.accounts import account_client_id
from tests.conftest import query
from tests.helpers import REPO_ROOT, failure_lines, meltano_isolation, mock_accounts
from tests.test_meltano import LOCK_PATH, MELTANO

SHARDS = {"a": (1,), "b": (2, 3)}
CAMPAIGNS = 100


@pytest.fixture
def meltano_pg_uri(pg_url: str) -> Iterator[str]:
    """A fresh database for Meltano's system tables (driver: psycopg 3)."""
    name = f"meltano_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(pg_url)
    yield urlunsplit(parts._replace(scheme="postgresql+psycopg", path=f"/{name}"))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def base_env(extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_MIXOADS", "TARGET_POSTGRES_"))
    }
    env.update(extra)
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return env


def meltano_cmd(*args: str) -> list[str]:
    return [MELTANO, *meltano_isolation(), *args]


def test_two_shards_run_in_parallel_with_their_own_state(
    mock_api, pg_url, pg_schema, meltano_pg_uri
):
    server = mock_api(
        "fast",
        accounts=3,
        campaigns=CAMPAIGNS,
        rate_limit=10,
        rate_window=1.5,
        sync_delay=0.2,
        error_rate=0.0,
        hang_rate=0.0,
    )
    suffix = uuid.uuid4().hex[:8]
    common = {
        "MELTANO_DATABASE_URI": meltano_pg_uri,
        **target_postgres_env(pg_url, pg_schema),
    }
    envs: dict[str, dict[str, str]] = {}
    for shard, ks in SHARDS.items():
        prefix = f"TAP_MIXOADS__SHARD_{shard.upper()}_"
        envs[shard] = base_env(
            {
                **common,
                f"{prefix}API_URL": server.url,
                f"{prefix}ACCOUNTS": json.dumps(mock_accounts(*ks)),
                f"{prefix}REQUESTS_PER_MINUTE": "360",
                f"{prefix}REQUEST_TIMEOUT": "2.5",
            }
        )
    with LOCK_PATH.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # no other Meltano test meanwhile
        # Create Meltano's tables once, before two processes race to do it.
        first = subprocess.run(
            meltano_cmd("state", "list"),
            env=envs["a"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert first.returncode == 0, first.stderr[-3000:]
        # Create the tables in one process (meltano.yml's mixoads-tables job):
        # two shards' first loads at once race in target-postgres on CREATE
        # TABLE. It needs no credentials and makes no API call.
        tables = subprocess.run(
            meltano_cmd("run", "mixoads-tables"),
            env=base_env({**common, "TAP_MIXOADS__TABLES_API_URL": server.url}),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert tables.returncode == 0, failure_lines(tables.stderr)
        assert server.stats()["requests"] == {}  # not one API call
        created = query(
            pg_url,
            "select table_name from information_schema.tables "
            f"where table_schema = '{pg_schema}' order by table_name",
        )
        assert created == [("campaigns",), ("sync_events",), ("sync_runs",)]
        procs = {
            shard: subprocess.Popen(
                meltano_cmd(
                    "run", "--state-id-suffix", suffix, f"mixoads-shard-{shard}"
                ),
                env=envs[shard],
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for shard in SHARDS
        }
        outputs = {
            shard: proc.communicate(timeout=300) for shard, proc in procs.items()
        }
        catalogs = {
            shard: REPO_ROOT / ".meltano" / "run" / f"tap-mixoads--shard-{shard}"
            for shard in SHARDS
        }
        states: dict[str, Any] = {}
        for shard in SHARDS:
            state_id = f"dev:tap-mixoads--shard-{shard}-to-target-postgres:{suffix}"
            got = subprocess.run(
                meltano_cmd("state", "get", state_id),
                env=envs[shard],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert got.returncode == 0, got.stderr[-3000:]
            states[shard] = json.loads(got.stdout)
    for shard, proc in procs.items():
        assert proc.returncode == 0, (
            f"shard {shard}:\n{failure_lines(outputs[shard][1])}"
        )
        # Each ran only its own accounts.
        for k in (1, 2, 3):
            named = f"[client {account_client_id(k)}]" in outputs[shard][1]
            assert named == (k in SHARDS[shard]), (shard, k)
    # Both runs overlapped in time and kept their own files.
    for shard, folder in catalogs.items():
        assert folder.is_dir(), (shard, folder)
    # Each shard's state is its own entry in the system database on Postgres.
    assert set(states) == set(SHARDS)
    for shard in SHARDS:
        assert isinstance(states[shard], dict), states[shard]
    with psycopg.connect(meltano_pg_uri.replace("+psycopg", "")) as conn:
        ids = {r[0] for r in conn.execute("select state_id from state")}
    assert {
        f"dev:tap-mixoads--shard-{s}-to-target-postgres:{suffix}" for s in SHARDS
    } <= ids
    rows = query(
        pg_url,
        "select client_id, count(*), count(distinct id) "
        f'from "{pg_schema}".campaigns group by client_id order by client_id',
    )
    assert rows == [(account_client_id(k), CAMPAIGNS, CAMPAIGNS) for k in (1, 2, 3)]
    assert server.stats()["rate_limited"] == 0
