"""The Hub-format definition ``tap-mixoads.yml`` works in a new Meltano project.

What a user does: ``meltano init``, add the tap from the file, set settings
with ``meltano config set`` and env vars, run it into Postgres. The only
liberty taken: ``pip_url`` (the repository, by git) points at this checkout
(no network here but PyPI), and the loader comes from the committed lock file (no Hub).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from devtools.check_settings import check
from devtools.pg import target_postgres_env
from tests.conftest import query
from tests.helpers import (
    DEMO_EMAIL,
    DEMO_PASSWORD,
    REPO_ROOT,
    failure_lines,
    meltano_command,
)

LOCK = REPO_ROOT / "plugins" / "loaders" / "target-postgres--meltanolabs.lock"

pytestmark = pytest.mark.slow


def _meltano(project: Path, *args: str, env: dict[str, str] | None = None):
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_MIXOADS_", "TARGET_POSTGRES_"))
        # A fresh project keeps its own system database and system dir (its
        # own .meltano, where it installs its plugins), as a user's does.
        and k not in ("MELTANO_DATABASE_URI", "MELTANO_SYS_DIR_ROOT")
    }
    full_env.update(env or {})
    full_env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    proc = subprocess.run(
        [meltano_command(), *args],
        capture_output=True,
        text=True,
        cwd=project,
        env=full_env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, (
        f"meltano {' '.join(args)}:\n{failure_lines(proc.stderr)}"
    )
    return proc


def test_every_mirror_of_the_settings_is_in_step():
    """devtools.check_settings: tap-mixoads.yml, meltano.yml, .env.example."""
    assert check() == []


def test_a_fresh_project_adds_configures_and_runs_the_tap(
    tmp_path, mock_api, pg_url, pg_schema
):
    _meltano(tmp_path, "init", "proj", "--no-usage-stats")
    project = tmp_path / "proj"
    _meltano(
        project,
        "add",
        "--plugin-type",
        "extractor",
        "tap-mixoads",
        "--from-ref",
        str(REPO_ROOT / "tap-mixoads.yml"),
        "--no-install",
    )
    _meltano(project, "add", "target-postgres", "--from-ref", str(LOCK), "--no-install")
    spec = yaml.safe_load((project / "meltano.yml").read_text())
    assert set(spec["plugins"]) == {"extractors", "loaders"}  # no stray utility
    (tap,) = spec["plugins"]["extractors"]
    # The repository (the package is not on PyPI); no network here but PyPI.
    assert tap["pip_url"] == "git+https://github.com/mixoads/tap-mixoads.git"
    tap["pip_url"] = f"-e {REPO_ROOT}"
    (project / "meltano.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    _meltano(project, "install")

    server = mock_api("calm", sync_delay=0)
    _meltano(project, "config", "set", "tap-mixoads", "api_url", server.url)
    _meltano(project, "config", "set", "tap-mixoads", "page_size", "50")
    _meltano(project, "config", "set", "tap-mixoads", "request_timeout", "2.5")
    maps = json.dumps({"campaigns": {"name": "__NULL__"}})
    _meltano(project, "config", "set", "tap-mixoads", "stream_maps", maps)
    env = {
        "TAP_MIXOADS_EMAIL": DEMO_EMAIL,
        "TAP_MIXOADS_PASSWORD": DEMO_PASSWORD,
        "TAP_MIXOADS_REQUESTS_PER_MINUTE": "6000",
        "TAP_MIXOADS_SYNC_MODE": "all",
        **target_postgres_env(pg_url, pg_schema),
        "TARGET_POSTGRES_ADD_RECORD_METADATA": "false",
        "TARGET_POSTGRES_ACTIVATE_VERSION": "false",
    }
    dumped = _meltano(project, "invoke", "--dump=config", "tap-mixoads", env=env).stdout
    config = json.loads(dumped)
    assert config["page_size"] == 50  # an integer, not '50'
    assert config["email"] == DEMO_EMAIL  # the env var is not ignored
    assert config["requests_per_minute"] == 6000

    _meltano(project, "run", "tap-mixoads", "target-postgres", env=env)
    assert query(
        pg_url,
        "select count(*), count(distinct id), "
        "count(*) filter (where sync_status = 'success') "
        f'from "{pg_schema}".campaigns',
    ) == [(100, 100, 100)]
    columns = {
        row[0]
        for row in query(
            pg_url,
            "select column_name from information_schema.columns "
            f"where table_schema = '{pg_schema}' and table_name = 'campaigns'",
        )
    }
    assert "name" not in columns  # stream_maps, an object setting, applied
    assert "budget" in columns
    assert server.stats()["requests"]["GET /api/campaigns"] == 2  # pages of 50
