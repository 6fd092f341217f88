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
