"""Shards of one account list run by Meltano (meltano.yml's example), and a reshard.

Each shard is an inherited plugin (``tap-mixoads--shard-1``/``-2``) with its
``shard: K/2`` and its own job; every process gets the same accounts (one
``TAP_MIXOADS_ACCOUNTS``) and both ``meltano run`` processes run at once.
Meltano keeps a plugin's catalog and state files under
``.meltano/run/<plugin name>/`` with fixed names, so only distinct plugin
names can run side by side, and its system database takes every run's
state, so it is on PostgreSQL here (SQLite is a single file that two
processes write at once).

Then the fleet goes from 2 shards to 3 as the README says: a copy of the
project gets ``tap-mixoads--shard-3`` and every ``shard`` becomes ``K/3``, the
ledgers are carried over with ``meltano state get``, ``tap-mixoads-state`` and
``meltano state set --force``, and every account's ledger is found by its new
shard's run.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml

from devtools.pg import target_postgres_env
from mock_api.accounts import account_client_id
from tests.conftest import query
from tests.helpers import (
    REPO_ROOT,
    failure_lines,
    meltano_command,
    meltano_isolation,
    mock_accounts,
)
from tests.test_meltano import LOCK_PATH

KS = (1, 2, 3, 4)
#: Where each account lands (tap_mixoads.config.shards; pinned in tests/test_shards.py).
TWO_SHARDS = {1: {1, 2, 3}, 2: {4}}
THREE_SHARDS = {1: {1, 2, 4}, 2: set(), 3: {3}}
CAMPAIGNS = 20
#: Its sync always fails: every account's ledger holds it after a run.
FAILING = "campaign_3"
STATE_TOOL = str(Path(sys.executable).parent / "tap-mixoads-state")


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
    return [meltano_command(), *meltano_isolation(), *args]


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{args}:\n{failure_lines(done.stderr)}"
    return done


def run_shards(shards: list[int], env: dict[str, str], cwd: Path, suffix: str):
    """Every shard's job at once; their stderr, by shard."""
    procs = {
        k: subprocess.Popen(
            meltano_cmd("run", "--state-id-suffix", suffix, f"mixoads-shard-{k}"),
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in shards
    }
    errs = {k: proc.communicate(timeout=300)[1] for k, proc in procs.items()}
    for k, proc in procs.items():
        assert proc.returncode == 0, f"shard {k}:\n{failure_lines(errs[k])}"
    return errs


def state_id(k: int, suffix: str) -> str:
    return f"dev:tap-mixoads--shard-{k}-to-target-postgres:{suffix}"


def ledger_accounts(document: dict[str, Any]) -> set[str]:
    singer = document.get("singer_state", document)
    accounts = singer.get("bookmarks", {}).get("campaigns", {}).get("accounts", {})
    return set(accounts)


def three_shard_project(folder: Path) -> Path:
    """A copy of the project with a third shard, as the README says to edit it."""
    project = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())
    extractors = project["plugins"]["extractors"]
    for plugin in extractors:
        if plugin["name"].startswith("tap-mixoads--shard-"):
            k = int(plugin["name"].rsplit("-", 1)[1])
            assert plugin["config"]["shard"] == f"{k}/2"
            plugin["config"]["shard"] = f"{k}/3"
    extractors.append(
        {
            "name": "tap-mixoads--shard-3",
            "inherit_from": "tap-mixoads",
            "config": {"shard": "3/3"},
        }
    )
    project["jobs"].append(
        {"name": "mixoads-shard-3", "tasks": ["tap-mixoads--shard-3 target-postgres"]}
    )
    folder.mkdir()
    (folder / "meltano.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    shutil.copytree(REPO_ROOT / "plugins", folder / "plugins")
    # The installed plugins (venvs) are the checkout's: nothing to install.
    (folder / ".meltano").symlink_to(REPO_ROOT / ".meltano")
    return folder


def test_shards_of_one_list_run_in_parallel_and_a_reshard_keeps_every_ledger(
    mock_api, pg_url, pg_schema, meltano_pg_uri, tmp_path
):
    server = mock_api(
        "fast",
        accounts=len(KS),
        campaigns=CAMPAIGNS,
        rate_limit=10,
        rate_window=1.5,
        sync_delay=0.05,
        error_rate=0.0,
        hang_rate=0.0,
        sync_fail_ids=(FAILING,),
    )
    suffix = uuid.uuid4().hex[:8]
    # One env for every process: the same accounts, no per-shard variable.
    env = base_env(
        {
            "MELTANO_DATABASE_URI": meltano_pg_uri,
            **target_postgres_env(pg_url, pg_schema),
            "TAP_MIXOADS_API_URL": server.url,
            "TAP_MIXOADS_ACCOUNTS": json.dumps(mock_accounts(*KS)),
            "TAP_MIXOADS_REQUESTS_PER_MINUTE": "360",
            "TAP_MIXOADS_REQUEST_TIMEOUT": "2.5",
            "TAP_MIXOADS_MAX_RETRIES": "2",
            # A campaign failing in 2 runs in a row is given up on ("dead"):
            # the second run's report shows it only if it found the first
            # run's ledger.
            "TAP_MIXOADS_SYNC_GIVE_UP_AFTER_RUNS": "2",
        }
    )
    with LOCK_PATH.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # no other Meltano test meanwhile
        # Create Meltano's tables once, before two processes race to do it.
        run(meltano_cmd("state", "list"), env, REPO_ROOT)
        # Create the tables in one process (meltano.yml's mixoads-tables job):
        # two shards' first loads at once race in target-postgres on CREATE
        # TABLE. It makes no API call.
        run(meltano_cmd("run", "mixoads-tables"), env, REPO_ROOT)
        assert server.stats()["requests"] == {}  # not one API call
        created = query(
            pg_url,
            "select table_name from information_schema.tables "
            f"where table_schema = '{pg_schema}' order by table_name",
        )
        assert created == [("campaigns",), ("sync_events",), ("sync_runs",)]

        errs = run_shards([1, 2], env, REPO_ROOT, suffix)
        old = tmp_path / "old"
        old.mkdir()
        for k in (1, 2):
            got = run(meltano_cmd("state", "get", state_id(k, suffix)), env, REPO_ROOT)
            (old / f"{k}.json").write_text(got.stdout)

        # 2 shards become 3: merge the old states, split by the new shards.
        new_project = three_shard_project(tmp_path / "project")
        merged = run(
            [STATE_TOOL, "merge", str(old / "1.json"), str(old / "2.json")],
            env,
            tmp_path,
        )
        (tmp_path / "all.json").write_text(merged.stdout)
        for k in (1, 2, 3):
            part = run(
                [STATE_TOOL, "split", "--shard", f"{k}/3", str(tmp_path / "all.json")],
                env,
                tmp_path,
            )
            (tmp_path / f"new-{k}.json").write_text(part.stdout)
            run(
                meltano_cmd(
                    "state",
                    "set",
                    "--force",
                    state_id(k, suffix),
                    "--input-file",
                    str(tmp_path / f"new-{k}.json"),
                ),
                env,
                new_project,
            )
        new_errs = run_shards([1, 2, 3], env, new_project, suffix)
        new_states = {
            k: json.loads(
                run(
                    meltano_cmd("state", "get", state_id(k, suffix)), env, new_project
                ).stdout
            )
            for k in (1, 2, 3)
        }

    old_states = {k: json.loads((old / f"{k}.json").read_text()) for k in (1, 2)}
    for shards, outputs, states, n in (
        (TWO_SHARDS, errs, old_states, 2),
        (THREE_SHARDS, new_errs, new_states, 3),
    ):
        for k, held in shards.items():
            ids = {account_client_id(i) for i in held}
            # Each ran only its own accounts, named with its shard ...
            for i in KS:
                named = f"[client {account_client_id(i)} shard {k}/{n}]"
                assert (named in outputs[k]) == (i in held), (k, n, i)
            # ... and its state holds exactly their ledgers.
            assert ledger_accounts(states[k]) == ids, (k, n)
    assert "shard 2/3: none of the 4 configured account(s)" in new_errs[2]
    # Without the carry-over, client-4 (shard 2/2 -> 1/3) and client-3
    # (1/2 -> 3/3) would have started from a state without their ledger.
    assert account_client_id(4) not in ledger_accounts(old_states[1])
    assert account_client_id(3) not in ledger_accounts(old_states[2])
    # Every account's second run found its first run's ledger: the failing
    # campaign failed a second run in a row and was given up on.
    reports = query(
        pg_url,
        "select client_id, failed, dead from "
        f'"{pg_schema}".sync_runs order by client_id, started_at',
    )
    assert reports == [
        (account_client_id(i), failed, dead)
        for i in KS
        for failed, dead in ((1, 0), (1, 1))
    ]
    # Each (client_id, id) loaded once, no account missing, no 429.
    rows = query(
        pg_url,
        "select client_id, count(*), count(distinct id) "
        f'from "{pg_schema}".campaigns group by client_id order by client_id',
    )
    assert rows == [(account_client_id(i), CAMPAIGNS, CAMPAIGNS) for i in KS]
    assert server.stats()["rate_limited"] == 0
