"""Upgrading a table from 0.1 (key ``id``) to the key ``(client_id, id)``.

What target-postgres 0.8.1 does with a changed key, seen here and in the
CHANGELOG: it created the 0.1 table with ``PRIMARY KEY (id)``; given the new
SCHEMA message it adds ``client_id`` as a nullable column but keeps the old
primary key, and its upsert (matching on ``client_id`` and ``id``) then finds
no old row (their ``client_id`` is null) and fails the load with a unique
violation on ``campaigns_pkey``. The CHANGELOG's SQL fixes the table once;
this test runs exactly that SQL, read from the CHANGELOG itself.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import psycopg

from mock_api.testing import MockServer
from tests.conftest import query
from tests.helpers import REPO_ROOT, loader_command, run_pipeline, tap_config

OLD_CLIENT_ID = "tap-mixoads"  # 0.1's default client_id
CAMPAIGNS = 100


def old_messages() -> str:
    """What 0.1 emitted: key ``["id"]``, no ``client_id`` (a few old rows)."""
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": ["string"]},
            "name": {"type": ["string", "null"]},
            "budget": {"type": ["number", "null"]},
            "sync_status": {"type": ["string", "null"]},
        },
    }
    lines: list[dict[str, Any]] = [
        {
            "type": "SCHEMA",
            "stream": "campaigns",
            "schema": schema,
            "key_properties": ["id"],
        }
    ]
    lines += [
        {
            "type": "RECORD",
            "stream": "campaigns",
            "record": {"id": f"campaign_{i}", "name": "old", "budget": 1.0},
        }
        for i in range(1, 51)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines)


def migration_sql(schema: str) -> str:
    """The SQL block of the CHANGELOG's migration note, for this schema."""
    text = (REPO_ROOT / "CHANGELOG.md").read_text()
    match = re.search(r"```sql\n(.*?ALTER TABLE.*?)```", text, re.S)
    assert match, "CHANGELOG.md: no ```sql block with the migration"
    sql = match.group(1).replace("mixoads.campaigns", f'"{schema}".campaigns')
    return sql.replace("'tap-mixoads'", f"'{OLD_CLIENT_ID}'")


def load_old_table(target_config: dict[str, Any], tmp_path: Path) -> None:
    config = tmp_path / "target.json"
    config.write_text(json.dumps(target_config))
    proc = subprocess.run(
        [*loader_command(), "--config", str(config)],
        input=old_messages(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def primary_key(pg_url: str, schema: str) -> list[str]:
    rows = query(
        pg_url,
        "select a.attname from pg_index i join pg_attribute a "
        "on a.attrelid = i.indrelid and a.attnum = any(i.indkey) "
        f"where i.indrelid = '\"{schema}\".campaigns'::regclass and i.indisprimary "
        "order by array_position(i.indkey, a.attnum)",
    )
    return [r[0] for r in rows]


def test_documented_sql_migrates_an_old_single_account_table(
    pg_url, pg_schema, target_config, tmp_path
):
    load_old_table(target_config, tmp_path)
    assert primary_key(pg_url, pg_schema) == ["id"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(migration_sql(pg_schema))
    assert primary_key(pg_url, pg_schema) == ["client_id", "id"]

    with MockServer(profile="calm", seed=3) as server:
        config = tap_config(server.url, client_id=OLD_CLIENT_ID, sync_mode="none")
        run = run_pipeline(config, target_config, timeout=180)
    assert (run.tap_returncode, run.target_returncode) == (0, 0), run.target_stderr[
        -3000:
    ]
    rows = query(
        pg_url,
        "select count(*), count(distinct (client_id, id)), "
        "count(*) filter (where client_id is null), "
        "count(*) filter (where name = 'old') "
        f'from "{pg_schema}".campaigns',
    )
    # 100 rows, the 50 old ones updated in place (no duplicate, no null key).
    assert rows == [(CAMPAIGNS, CAMPAIGNS, 0, 0)]


def test_without_the_migration_the_new_tap_fails_on_an_old_table(
    pg_url, pg_schema, target_config, tmp_path
):
    """Why the CHANGELOG note exists: target-postgres does not migrate."""
    load_old_table(target_config, tmp_path)
    with MockServer(profile="calm", seed=3) as server:
        config = tap_config(server.url, client_id=OLD_CLIENT_ID, sync_mode="none")
        run = run_pipeline(config, target_config, timeout=180)
    assert run.target_returncode != 0
    assert "campaigns_pkey" in run.target_stderr
    assert primary_key(pg_url, pg_schema) == ["id"]
    assert query(pg_url, f'select count(*) from "{pg_schema}".campaigns') == [(50,)]
