"""The fast record path must emit what the SDK's own path would have emitted."""

from __future__ import annotations

import decimal
import io
import json
import sys

from singer_sdk.singerlib.encoding.simple import RecordMessage, StateMessage

from tap_mixoads.singer import writer as writer_module
from tap_mixoads.singer.writer import FastSingerWriter
from tests.helpers import run_tap, tap_config


def _capture(monkeypatch):
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", text)
    return raw


def test_records_are_buffered_and_state_flushes_them(monkeypatch):
    raw = _capture(monkeypatch)
    writer = FastSingerWriter()
    writer.write_message(RecordMessage(stream="s", record={"id": "a"}))
    # Buffered: nothing reached stdout yet (unless the interval elapsed).
    writer._last_flush = float("inf")
    writer.write_message(RecordMessage(stream="s", record={"id": "b"}))
    writer.write_message(StateMessage(value={"bookmarks": {}}))
    lines = [json.loads(line) for line in raw.getvalue().splitlines()]
    assert [m["type"] for m in lines] == ["RECORD", "RECORD", "STATE"]
    assert [m["record"]["id"] for m in lines[:2]] == ["a", "b"]


def test_buffer_is_written_when_it_grows_large(monkeypatch):
    raw = _capture(monkeypatch)
    monkeypatch.setattr(writer_module, "BUFFER_BYTES", 100)
    writer = FastSingerWriter()
    writer._last_flush = float("inf")
    for i in range(10):
        writer.write_message(RecordMessage(stream="s", record={"id": str(i)}))
    assert raw.getvalue().count(b"\n") >= 5


def test_messages_encode_like_the_sdk(monkeypatch):
    raw = _capture(monkeypatch)
    writer = FastSingerWriter()
    message = RecordMessage(
        stream="s", record={"n": decimal.Decimal("1.5"), "i": decimal.Decimal(2)}
    )
    writer.write_message(message)
    writer.flush()
    assert json.loads(raw.getvalue()) == {
        "type": "RECORD",
        "stream": "s",
        "record": {"n": 1.5, "i": 2},
    }


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
