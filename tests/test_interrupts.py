"""Interrupts are failures (issue "exit status is the truth", point 4).

SIGINT or SIGTERM to the tap: exit 130 / 143 within 2 s whatever the pace,
no API call after the signal, no final STATE (nothing that claims the run
completed). ``meltano run`` interrupted the same way is covered by
tests/test_process_faults.py (non-zero exit, nothing outlives it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, tap_config

#: The issue's bound for the exit after a signal; generous on a busy box.
EXIT_WITHIN_S = 2.0
WAIT_S = 60


def _start_tap(config: dict) -> tuple[subprocess.Popen[bytes], str, str]:
    folder = tempfile.mkdtemp(prefix="tap-mixoads-interrupt-")
    path = os.path.join(folder, "tap.json")
    with open(path, "w") as fh:
        json.dump(config, fh)
    out, err = os.path.join(folder, "out"), os.path.join(folder, "err")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MIXOADS_")}
    with open(out, "wb") as out_fh, open(err, "wb") as err_fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tap_mixoads", "--config", path],
            stdout=out_fh,
            stderr=err_fh,
            cwd=REPO_ROOT,
            env=env,
        )
    return proc, out, err


def _api_calls(server) -> int:
    return sum(len(t) for t in server.stats()["api_request_times"].values())


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _interrupt(proc, sig: int) -> float:
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        proc.wait(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return time.monotonic() - sent


def _check_outcome(proc, out: str, err: str, sig: int, took: float) -> None:
    stderr = Path(err).read_text(encoding="utf-8", errors="replace")
    assert proc.returncode == 128 + sig, stderr[-3000:]
    assert took < EXIT_WITHIN_S, f"exit {took:.2f} s after the signal"
    name = signal.Signals(sig).name
    errors = [x for x in stderr.splitlines() if x.startswith("tap-mixoads: error:")]
    assert errors == [
        f"tap-mixoads: error: interrupted by {name}: the run is incomplete "
        "and no further API call was sent"
    ], errors
    lines = Path(out).read_text(encoding="utf-8").splitlines()
    messages = [json.loads(x) for x in lines if x.strip()]
    assert not [m for m in messages if m.get("type") == "STATE"], "a final STATE"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_waiting_for_the_pace_exits_at_once_and_calls_nothing(
    mock_api, sig
):
    # requests_per_minute 10: after the list call the next call (a sync) is
    # 6 s away; the signal lands in that wait.
    server = mock_api("calm", sync_delay=0.5)
    config = tap_config(server.url, requests_per_minute=10, page_size=100)
    proc, out, err = _start_tap(config)
    _wait_for(lambda: _api_calls(server) >= 1, "the tap never called the API")
    time.sleep(1.0)
    before = _api_calls(server)
    took = _interrupt(proc, sig)
    time.sleep(7.0)  # past the next turn the pace would have given
    assert _api_calls(server) == before, server.stats()["api_request_times"]
    _check_outcome(proc, out, err, sig, took)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_syncs_are_in_flight_exits_at_once_and_calls_nothing(
    mock_api, sig
):
    # Each sync takes 5 s; four are in flight when the signal comes.
    server = mock_api("calm", sync_delay=5.0)
    config = tap_config(server.url, page_size=100, sync_concurrency=4)
    proc, out, err = _start_tap(config)
    _wait_for(lambda: server.stats()["concurrent_syncs"] >= 4, "no sync ever in flight")
    before = _api_calls(server)
    took = _interrupt(proc, sig)
    time.sleep(1.0)
    assert _api_calls(server) == before
    _check_outcome(proc, out, err, sig, took)


def test_sigterm_after_the_final_state_keeps_the_runs_own_exit_status(mock_api):
    """A signal once the output is complete does not make it "interrupted".

    On 0.x's code a SIGTERM in the ~0.1 s between the final STATE and the
    process's exit exited 143 (or died of the signal during interpreter
    shutdown) although every message was out. The signal is sent as soon as
    the final STATE line is read (the STATE after the last stream,
    ``sync_runs``), while the process is still alive; a run where it had
    already exited proves nothing, so it is tried again.
    """
    server = mock_api("calm", campaigns=20, sync_delay=0)
    config = tap_config(server.url, page_size=100)
    folder = tempfile.mkdtemp(prefix="tap-mixoads-late-signal-")
    path = os.path.join(folder, "tap.json")
    with open(path, "w") as fh:
        json.dump(config, fh)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MIXOADS_")}
    landed = 0
    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tap_mixoads", "--config", path],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO_ROOT,
            env=env,
        )
        assert proc.stdout is not None and proc.stderr is not None
        seen_run_report = False
        records = 0
        for raw in proc.stdout:
            message = json.loads(raw)
            if message["type"] == "RECORD":
                records += 1
                seen_run_report |= message["stream"] == "sync_runs"
            elif message["type"] == "STATE" and seen_run_report:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    landed += 1
                break
        rest = proc.stdout.read()
        stderr = proc.stderr.read().decode("utf-8", errors="replace")
        proc.wait(timeout=WAIT_S)
        assert proc.returncode == 0, stderr[-3000:]
        assert "interrupted by" not in stderr
        assert not rest.strip(), "the final STATE was not the last message"
        assert records >= 20 + 20 + 1  # campaigns, sync_events, sync_runs
        if landed:
            break
    assert landed, "the process had always exited before the signal"
