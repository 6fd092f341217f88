"""The Dagster code location: shards of a 4-account fleet, materialized for real.

Each materialization runs real ``meltano run`` (the project's inherited
shard plugins) against the mock into real PostgreSQL, with Meltano's system
database on PostgreSQL too (tests/test_meltano_shards.py says why).
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devtools.pg import target_postgres_env
from mock_api.accounts import account_client_id
from tests.conftest import query
from tests.helpers import REPO_ROOT, meltano_command, mock_accounts, real_meltano
from tests.test_meltano import LOCK_PATH
from tests.test_meltano_shards import TWO_SHARDS

if TYPE_CHECKING:
    import dagster as dg

CAMPAIGNS = 20


# Dagster (~0.8 s of imports) is imported when a test here runs, not when
# every pytest-xdist worker collects this file.
def build_definitions(*args: Any, **kwargs: Any) -> dg.Definitions:
    from tap_mixoads.dagster import build_definitions

    return build_definitions(*args, **kwargs)


def partition_keys(shards: int) -> list[str]:
    from tap_mixoads.dagster import partition_keys

    return partition_keys(shards)


def _project(folder: Path) -> Path:
    folder.mkdir()
    shutil.copy(REPO_ROOT / "meltano.yml", folder / "meltano.yml")
    shutil.copytree(REPO_ROOT / "plugins", folder / "plugins")
    (folder / ".meltano").symlink_to(REPO_ROOT / ".meltano")  # installed plugins
    return folder


def _env(server_url: str, accounts: list[dict], pg_url: str, schema: str, uri: str):
    return {
        "TAP_MIXOADS_API_URL": server_url,
        "TAP_MIXOADS_ACCOUNTS": json.dumps(accounts),
        "TAP_MIXOADS_REQUESTS_PER_MINUTE": "6000",
        "TAP_MIXOADS_REQUEST_TIMEOUT": "2",
        "TAP_MIXOADS_MAX_RETRIES": "2",
        "MELTANO_DATABASE_URI": uri,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        **target_postgres_env(pg_url, schema),
    }


@pytest.fixture
def forked_meltano(monkeypatch: pytest.MonkeyPatch) -> None:
    """The assets' ``meltano`` runs forked (tests.helpers.meltano_command)."""
    monkeypatch.setenv("MIXOADS_MELTANO_BIN", meltano_command())


def _materialize(
    defs: dg.Definitions, key: str, *, tables: bool = True
) -> dg.ExecuteInProcessResult:
    """Materialize partition ``key``: both assets, or only the campaigns."""
    import dagster as dg

    assets = list(defs.assets or [])
    with LOCK_PATH.open("w") as lock:  # <sys dir>/run: see tests/conftest.py
        fcntl.flock(lock, fcntl.LOCK_EX)
        return dg.materialize(
            assets,  # type: ignore[arg-type]
            partition_key=key,
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
            selection=None if tables else ["mixoads_campaigns"],
        )


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    (materialization,) = [
        m for m in result.asset_materializations_for_node("mixoads_campaigns")
    ]
    return {k: v.value for k, v in materialization.metadata.items()}


def _failure(result: dg.ExecuteInProcessResult) -> str:
    (event,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    data = event.step_failure_data
    assert data.user_failure_data is not None
    return str(data.user_failure_data.description)


def test_two_shards_load_each_account_once_and_a_rerun_continues(
    mock_api,
    pg_url,
    pg_schema,
    meltano_pg_uri,
    tmp_path,
    forked_meltano,
):
    server = mock_api(
        "calm",
        accounts=4,
        campaigns=CAMPAIGNS,
        sync_delay=0,
        rate_limit=0,
        sync_fail_ids=("campaign_3",),
    )
    project = _project(tmp_path / "proj")
    env = _env(server.url, mock_accounts(1, 2, 3, 4), pg_url, pg_schema, meltano_pg_uri)
    defs = build_definitions(project_dir=project, shards=2, env=env)
    assert partition_keys(2) == ["1-of-2", "2-of-2"]

    figures = {}
    for key in partition_keys(2):
        # The tables once (what a first deployment does), then the shards.
        result = _materialize(defs, key, tables=key == "1-of-2")
        assert result.success, _failure(result)
        figures[key] = _metadata(result)

    rows = query(pg_url, f'select client_id, id from "{pg_schema}".campaigns')
    assert len(rows) == len(set(rows)) == 4 * CAMPAIGNS
    for k, accounts in TWO_SHARDS.items():
        assert figures[f"{k}-of-2"]["accounts"] == len(accounts)
    assert sum(f["rows"] for f in figures.values()) == 4 * CAMPAIGNS
    assert sum(f["failed"] for f in figures.values()) == 4  # campaign_3 each
    assert sum(f["synced"] for f in figures.values()) == 4 * (CAMPAIGNS - 1)
    stats = server.stats()
    api_calls = sum(n for r, n in stats["requests"].items() if " /api/" in r)
    assert sum(f["api_calls"] for f in figures.values()) == api_calls
    assert sum(f["rate_limited_429"] for f in figures.values()) == 0
    assert all(c["rate_limited"] == 0 for c in stats["clients"].values())

    # A re-materialization of shard 1 continues from its state: the ledger
    # counts campaign_3's second failing run.
    result = _materialize(defs, "1-of-2", tables=False)
    assert result.success, _failure(result)
    state = subprocess.run(
        [
            meltano_command(),
            "state",
            "get",
            "dev:tap-mixoads--shard-1-to-target-postgres",
        ],
        cwd=project,
        env={**env, "PATH": str(Path(real_meltano()).parent)},
        capture_output=True,
        text=True,
        check=True,
    )
    singer = json.loads(state.stdout)
    accounts = singer["singer_state"]["bookmarks"]["campaigns"]["accounts"]
    assert set(accounts) == {account_client_id(k) for k in TWO_SHARDS[1]}
    assert all(a["ledger"]["campaign_3"]["runs"] == 2 for a in accounts.values())


def test_a_shard_with_a_bad_account_fails_with_its_line_the_other_succeeds(
    mock_api,
    pg_url,
    pg_schema,
    meltano_pg_uri,
    tmp_path,
    forked_meltano,
):
    server = mock_api("calm", accounts=4, campaigns=CAMPAIGNS, sync_delay=0)
    accounts = mock_accounts(1, 2, 3, 4)
    accounts[1]["password"] = "wrong-password"  # client-2: shard 1 of 2
    project = _project(tmp_path / "proj")
    env = _env(server.url, accounts, pg_url, pg_schema, meltano_pg_uri)
    defs = build_definitions(project_dir=project, shards=2, env=env)

    failed = _materialize(defs, "1-of-2")
    assert not failed.success
    line = _failure(failed)
    assert "account 'client-2'" in line and "POST /auth/token answered 401" in line
    assert "wrong-password" not in line
    # The shard's other accounts were loaded before it failed.
    loaded = {
        c
        for (c,) in query(
            pg_url, f'select distinct client_id from "{pg_schema}".campaigns'
        )
    }
    assert loaded == {"client-1", "client-3"}

    other = _materialize(defs, "2-of-2", tables=False)
    assert other.success, _failure(other)
    assert _metadata(other)["rows"] == CAMPAIGNS


@pytest.mark.parametrize("shards", [0, -1])
def test_a_number_of_shards_below_one_is_refused(shards):
    with pytest.raises(ValueError, match="MIXOADS_SHARDS must be at least 1"):
        build_definitions(project_dir=".", shards=shards)


def test_the_meltano_command_is_configurable_else_the_one_beside_python(monkeypatch):
    from tap_mixoads.dagster import ENV_MELTANO, _meltano_bin

    monkeypatch.delenv(ENV_MELTANO, raising=False)
    assert _meltano_bin() == real_meltano()
    monkeypatch.setenv(ENV_MELTANO, "/opt/meltano/bin/meltano")
    assert _meltano_bin() == "/opt/meltano/bin/meltano"
