"""Database faults (issue #4): PostgreSQL down at start, or gone mid-load.

The loader is the stock MeltanoLabs target-postgres, as in users' own
pipelines: it reports a lost database with its own traceback (the project's
one-line wrapper was retired, see the README), so these tests assert what
matters: the exit codes, that the driver's reason reaches the user, and that
no data is lost or half-written. The mid-load tests use a private server of
their own, so that stopping it never disturbs other tests' database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.pg import (
    LocalPostgres,
    free_port,
    target_postgres_config,
    target_postgres_env,
)
from tests.conftest import query
from tests.helpers import REPO_ROOT, loader_command, run_pipeline, tap_config
from tests.test_meltano import meltano, run_args, tap_env

SYNC_DELAY = 0.2
"""Each sync takes this long, 4 in flight: a run lasts ~5 s."""
BATCH_ROWS = 25
#: Slower syncs for the loader that dies mid-load: the tap must still be
#: writing when it does, and on a busy box the loader's first batch alone
#: can take 5 s (a run of ~12 s).
LOST_SYNC_DELAY = 0.5
WAIT_S = 60


def _connection_error(stderr: str) -> None:
    """target-postgres ended on the driver's connection error."""
    assert "OperationalError" in stderr, stderr[-3000:]


def test_unreachable_postgres_fails_the_pipeline_in_one_line(mock_api):
    server = mock_api("calm")
    port = free_port()  # nothing listens there
    run = run_pipeline(
        tap_config(server.url, sync_mode="none"),
        target_postgres_config(f"postgresql://postgres@127.0.0.1:{port}/x", "s"),
        timeout=WAIT_S,
    )
    # The loader fails; the tap may finish first (the pipe buffers its output).
    assert run.target_returncode == 1
    _connection_error(run.target_stderr)
    assert f'"127.0.0.1", port {port} failed: Connection refused' in run.target_stderr


def test_unreachable_postgres_fails_meltano_run_in_one_line(mock_api):
    server = mock_api("calm")
    port = free_port()
    env = {
        **tap_env(server.url, TAP_MIXOADS_SYNC_MODE="none"),
        **target_postgres_env(f"postgresql://postgres@127.0.0.1:{port}/x", "s"),
    }
    proc = meltano(
        *run_args(),
        env=env,
        timeout=WAIT_S * 2,
    )
    assert proc.returncode == 1
    output = proc.stdout + proc.stderr
    # Meltano relays the loader's error and names the failed plugin.
    assert f'"127.0.0.1", port {port} failed: Connection refused' in output
    assert "Loader failed" in output


@pytest.fixture
def own_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """A private server this test may restart or kill (same port throughout)."""
    server = LocalPostgres(tmp_path_factory.mktemp("own_pg"), port=free_port())
    with server:
        yield server


def _counts(url: str, schema: str) -> tuple[int, int, int]:
    (row,) = query(
        url,
        "select count(*), count(distinct id), "
        "count(*) filter (where sync_status = 'success') "
        f'from "{schema}".campaigns',
    )
    return row


def _table_exists(url: str, schema: str) -> bool:
    return bool(query(url, f"select to_regclass('\"{schema}\".campaigns')")[0][0])


class _Pipeline:
    """tap | loader, started in the background so the test can act mid-run."""

    def __init__(self, tmp: Path, config: dict, target_config: dict) -> None:
        (tmp / "tap.json").write_text(json.dumps(config))
        (tmp / "target.json").write_text(json.dumps(target_config))
        self.tap_err = tmp / "tap.err"
        self.target_err = tmp / "target.err"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MIXOADS_")}
        with self.tap_err.open("w") as tap_err, self.target_err.open("w") as tgt_err:
            self.tap = subprocess.Popen(
                [sys.executable, "-m", "tap_mixoads", "--config", tmp / "tap.json"],
                stdout=subprocess.PIPE,
                stderr=tap_err,
                cwd=REPO_ROOT,
                env=env,
            )
            self.target = subprocess.Popen(
                [*loader_command(), "--config", tmp / "target.json"],
                stdin=self.tap.stdout,
                stdout=subprocess.DEVNULL,
                stderr=tgt_err,
                cwd=REPO_ROOT,
                env=env,
            )
        assert self.tap.stdout is not None
        self.tap.stdout.close()

    def wait(self) -> tuple[int, int]:
        try:
            self.target.wait(WAIT_S)
            self.tap.wait(WAIT_S)
        finally:
            for proc in (self.tap, self.target):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        return self.tap.returncode, self.target.returncode


def _until(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_postgres_restart_while_the_tap_extracts_goes_unnoticed(
    mock_api, own_pg, tmp_path
):
    """The loader writes once, at the end; its pool pings before reuse.

    So a restart after the table was created and before the final write costs
    nothing: the run succeeds and every campaign lands once.
    """
    server = mock_api("calm", sync_delay=SYNC_DELAY)
    schema = "restart"
    pipeline = _Pipeline(
        tmp_path,
        tap_config(server.url),
        target_postgres_config(own_pg.url, schema),
    )
    _until(lambda: _table_exists(own_pg.url, schema), "the loader to create the table")
    own_pg.restart()
    syncs_at_restart = sum(server.stats()["sync_calls"].values())
    tap_rc, target_rc = pipeline.wait()
    assert syncs_at_restart < 100, "the run was over before the restart"
    assert (tap_rc, target_rc) == (0, 0), pipeline.target_err.read_text()[-3000:]
    assert _counts(own_pg.url, schema) == (100, 100, 100)


def test_postgres_lost_mid_load_fails_in_one_line_keeps_whole_batches_and_rerun_completes(  # noqa: E501
    mock_api, own_pg, tmp_path
):
    server = mock_api("calm", sync_delay=LOST_SYNC_DELAY)
    schema = "crash"
    config = tap_config(server.url)
    target_config = {
        **target_postgres_config(own_pg.url, schema),
        "batch_size_rows": BATCH_ROWS,
    }
    pipeline = _Pipeline(tmp_path, config, target_config)
    # Crash the server once the first batch is committed; it stays down until
    # the run has failed, so the next batch cannot reach it.
    _until(
        lambda: (
            _table_exists(own_pg.url, schema) and _counts(own_pg.url, schema)[0] > 0
        ),
        "the first batch",
    )
    own_pg.kill()
    syncs_at_kill = sum(server.stats()["sync_calls"].values())
    tap_rc, target_rc = pipeline.wait()
    target_stderr = pipeline.target_err.read_text()
    assert target_rc == 1, target_stderr[-3000:]
    assert syncs_at_kill < 100, "the run was over before the loader died"
    assert tap_rc != 0
    _connection_error(target_stderr)

    own_pg.start()
    loaded, distinct, synced = _counts(own_pg.url, schema)
    # Each batch is one transaction (temp table, merge, drop): what survived
    # is whole batches, never part of one, and each campaign at most once.
    assert 0 < loaded < 100
    assert loaded % BATCH_ROWS == 0
    assert loaded == distinct == synced

    rerun = run_pipeline(config, target_config, timeout=WAIT_S)
    assert rerun.tap_returncode == 0, rerun.tap_stderr[-2000:]
    assert rerun.target_returncode == 0, rerun.target_stderr[-2000:]
    assert _counts(own_pg.url, schema) == (100, 100, 100)
