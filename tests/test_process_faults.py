"""Process faults (issue #4): a killed tap, an interrupted ``meltano run``.

Whatever kills a run, the next run must land every campaign exactly once:
the stream is full-table and the loader upserts on ``id``, so a re-run reads
everything again and overwrites instead of appending. These tests kill real
processes mid-run (the mock's sync delay makes a run last a few seconds) and
then check the re-run and what a killed run left behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from devtools.pg import target_postgres_env
from tests.conftest import query
from tests.helpers import (
    REAL_PLUGINS_ENV,
    REPO_ROOT,
    loader_command,
    run_pipeline,
    tap_config,
)
from tests.test_meltano import LOCK_PATH, MELTANO, run_args, tap_env

#: Each sync takes this long, 4 in flight: ~5 s for 100 campaigns.
SYNC_DELAY = 0.2
KILL_AFTER_RECORDS = 30
WAIT_S = 60


def _counts(pg_url: str, schema: str) -> tuple[int, int, int]:
    """Rows, distinct ids and synced rows; nothing loaded yet is all zeros.

    A run interrupted early can end before the loader made the table (it
    makes it with its first batch): that is "nothing landed", not an error.
    """
    ((table,),) = query(pg_url, f"select to_regclass('\"{schema}\".campaigns')")
    if table is None:
        return (0, 0, 0)
    (row,) = query(
        pg_url,
        "select count(*), count(distinct id), "
        "count(*) filter (where sync_status = 'success') "
        f'from "{schema}".campaigns',
    )
    return row


def _clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_MIXOADS_", "TARGET_POSTGRES_"))
    }


def test_tap_killed_mid_run_then_rerun_lands_every_campaign_once(
    mock_api, pg_url, pg_schema, target_config, tmp_path
):
    server = mock_api("calm", sync_delay=SYNC_DELAY)
    config = tap_config(server.url)
    (tmp_path / "tap.json").write_text(json.dumps(config))
    (tmp_path / "target.json").write_text(json.dumps(target_config))
    env = _clean_env()
    with (
        (tmp_path / "tap.err").open("w") as tap_err,
        (tmp_path / "target.err").open("w") as target_err,
    ):
        tap = subprocess.Popen(
            [sys.executable, "-m", "tap_mixoads", "--config", tmp_path / "tap.json"],
            stdout=subprocess.PIPE,
            stderr=tap_err,
            cwd=REPO_ROOT,
            env=env,
        )
        loader = subprocess.Popen(
            [*loader_command(), "--config", tmp_path / "target.json"],
            stdin=subprocess.PIPE,
            stderr=target_err,
            stdout=subprocess.DEVNULL,
            cwd=REPO_ROOT,
            env=env,
        )
        assert tap.stdout is not None and loader.stdin is not None
        # The test is the pipe: it forwards the tap's bytes unchanged and
        # counts the records, so the kill lands mid-stream, not by the clock.
        forwarded = 0
        try:
            for line in tap.stdout:
                loader.stdin.write(line)
                if json.loads(line).get("type") == "RECORD":
                    forwarded += 1
                    if forwarded == KILL_AFTER_RECORDS:
                        tap.send_signal(signal.SIGKILL)
            loader.stdin.close()  # EOF, exactly as a shell pipe gives it
            tap.wait(WAIT_S)
            loader.wait(WAIT_S)
        finally:
            for proc in (tap, loader):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()

    assert tap.returncode == -signal.SIGKILL
    # Records already in the pipe when the tap died still arrive; the rest never do.
    assert KILL_AFTER_RECORDS <= forwarded < 100
    # The loader cannot tell a killed tap from a finished one: it sees EOF,
    # commits what it got and exits 0. Only the tap's status says the run failed.
    assert loader.returncode == 0, (tmp_path / "target.err").read_text()[-2000:]
    assert _counts(pg_url, pg_schema) == (forwarded, forwarded, forwarded)

    rerun = run_pipeline(config, target_config, timeout=WAIT_S)
    assert rerun.tap_returncode == 0, rerun.tap_stderr[-2000:]
    assert rerun.target_returncode == 0, rerun.target_stderr[-2000:]
    assert _counts(pg_url, pg_schema) == (100, 100, 100)


def _meltano_popen(env: dict[str, str]) -> subprocess.Popen[str]:
    full_env = {
        **_clean_env(),
        **env,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        # Meltano's own children, as a user's are: the signals reach them.
        REAL_PLUGINS_ENV: "1",
    }
    return subprocess.Popen(
        [
            MELTANO,
            *run_args(),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO_ROOT,
        env=full_env,
        # Its own process group, as a shell gives a foreground job: Ctrl-C
        # reaches the whole group, a `kill PID` only meltano.
        start_new_session=True,
    )


def _wait_for_syncs(server, at_least: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while sum(server.stats()["sync_calls"].values()) < at_least:
        assert time.monotonic() < deadline, "the tap never got going"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("sig", "to_group"),
    [
        pytest.param(signal.SIGINT, True, id="ctrl-c-to-the-group"),
        pytest.param(signal.SIGTERM, False, id="sigterm-to-meltano"),
    ],
)
def test_meltano_run_interrupted_then_rerun_lands_every_campaign_once(
    mock_api, pg_url, pg_schema, sig, to_group
):
    server = mock_api("calm", sync_delay=SYNC_DELAY)
    env = {**tap_env(server.url), **target_postgres_env(pg_url, pg_schema)}
    with LOCK_PATH.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run = _meltano_popen(env)
        try:
            _wait_for_syncs(server, KILL_AFTER_RECORDS)
            children = psutil.Process(run.pid).children(recursive=True)
            assert children, "meltano started no plugin processes"
            if to_group:
                os.killpg(run.pid, sig)
            else:
                run.send_signal(sig)
            output, _ = run.communicate(timeout=WAIT_S)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
        # Nothing outlives the interrupted run: no tap still calling the API,
        # no loader still holding a connection.
        _gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, [p.info for p in alive]
        assert run.returncode != 0, output[-3000:]
        syncs_when_stopped = sum(server.stats()["sync_calls"].values())
        assert syncs_when_stopped < 100, "the run finished before the signal"

        loaded, distinct, _synced = _counts(pg_url, pg_schema)
        assert loaded == distinct < 100

        rerun = _meltano_popen(env)
        output, _ = rerun.communicate(timeout=WAIT_S * 2)
        assert rerun.returncode == 0, output[-3000:]
    assert _counts(pg_url, pg_schema) == (100, 100, 100)
