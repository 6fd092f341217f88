"""The fast record path must emit what the SDK's own path would have emitted."""

from __future__ import annotations

import json
import sys

from tests.helpers import run_tap, tap_config


def test_fast_and_sdk_paths_emit_the_same_records(mock_api):
    server = mock_api("calm", seed=9)
    fast = run_tap(tap_config(server.url, sync_mode="none", page_size=50))
    # Flattening forces the SDK's generic per-record path; with a flat
    # schema it changes nothing in the records themselves.
    slow = run_tap(
        tap_config(
            server.url,
            sync_mode="none",
            page_size=50,
            flattening_enabled=True,
            flattening_max_depth=1,
        )
    )
    assert fast.returncode == slow.returncode == 0, slow.stderr[-2000:]
    assert len(fast.records) == len(slow.records) == 100
    drop = ("impressions", "clicks", "conversions")  # change on every call
    for a, b in zip(fast.records, slow.records, strict=True):
        assert {k: v for k, v in a.items() if k not in drop} == {
            k: v for k, v in b.items() if k not in drop
        }
    fast_msg = next(m for m in fast.messages if m["type"] == "RECORD")
    slow_msg = next(m for m in slow.messages if m["type"] == "RECORD")
    assert fast_msg.keys() == slow_msg.keys()


def test_a_loader_that_stops_reading_ends_the_tap_with_one_line(mock_api):
    import subprocess
    import tempfile

    from tests.helpers import REPO_ROOT

    server = mock_api("calm", campaigns=50_000)
    config = tap_config(server.url, sync_mode="none", page_size=10_000)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(config, fh)
    tap = subprocess.Popen(
        [sys.executable, "-m", "tap_mixoads", "--config", fh.name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    assert tap.stdout is not None
    tap.stdout.read(1000)
    tap.stdout.close()  # the "loader" goes away
    _, stderr = tap.communicate(timeout=60)
    text = stderr.decode()
    assert tap.returncode == 1
    errors = [line for line in text.splitlines() if "tap-mixoads: error:" in line]
    assert errors == [
        "tap-mixoads: error: the loader stopped reading the tap's output (broken pipe)"
    ]
    assert "Traceback" not in text
