"""The message writer: buffering and encoding, in memory."""

from __future__ import annotations

import decimal
import io
import json
import sys

from singer_sdk.singerlib.encoding.simple import RecordMessage, StateMessage

from tap_mixoads.singer import writer as writer_module
from tap_mixoads.singer.writer import FastSingerWriter


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


def test_stdout_pipe_is_widened_and_a_file_is_left_alone(tmp_path):
    import fcntl
    import os

    read_end, write_end = os.pipe()
    try:
        before = fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)
        widened = writer_module.widen_pipe(write_end)
        assert widened == fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)
        # Linux's default pipe is 64 KiB; the final STATE of 100 accounts
        # (350 KB) fits only in the widened one.
        assert before < widened == writer_module.PIPE_BYTES
    finally:
        os.close(read_end)
        os.close(write_end)
    with (tmp_path / "out").open("wb") as out:
        assert writer_module.widen_pipe(out.fileno()) is None


def test_the_pipe_is_widened_for_the_first_large_state_only(monkeypatch):
    import fcntl
    import os
    import threading

    read_end, write_end = os.pipe()
    drained = threading.Thread(
        target=lambda: [None for _ in iter(lambda: os.read(read_end, 1 << 16), b"")],
        daemon=True,
    )
    drained.start()
    stdout = io.TextIOWrapper(io.FileIO(write_end, "wb"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", stdout)
    try:
        before = fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)
        writer = FastSingerWriter()
        big = "x" * (writer_module.WIDEN_FOR_BYTES + 1)
        writer.write_message(RecordMessage(stream="s", record={"id": big}))
        writer.write_message(StateMessage(value={"bookmarks": {}}))
        assert fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ) == before  # records only
        writer.write_message(StateMessage(value={"bookmarks": {"s": big}}))
        after = fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)
        assert before < after == writer_module.PIPE_BYTES
    finally:
        stdout.close()
        drained.join(5)
        os.close(read_end)
