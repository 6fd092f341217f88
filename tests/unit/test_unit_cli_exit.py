"""The tap's exit without the interpreter's teardown (tap_mixoads.cli)."""

from __future__ import annotations

import io
import logging

import pytest

from tap_mixoads import cli


@pytest.fixture
def exits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(cli.os, "_exit", calls.append)
    monkeypatch.setattr(logging, "shutdown", lambda: calls.append(-1))
    return calls


def test_a_finished_run_exits_with_its_status_after_flushing(exits, monkeypatch):
    out = io.StringIO()
    out.write("last line\n")
    flushed = []
    monkeypatch.setattr(out, "flush", lambda: flushed.append(True))
    monkeypatch.setattr(cli.sys, "stdout", out)
    monkeypatch.setattr(cli, "_exit_status", 3)
    cli._exit_without_teardown()
    assert exits == [-1, 3]  # logging shut down first, then the status
    assert flushed


def test_without_a_status_the_interpreter_ends_as_usual(exits, monkeypatch):
    # A traceback or an interrupt: no status was recorded, nothing is cut short.
    monkeypatch.setattr(cli, "_exit_status", None)
    cli._exit_without_teardown()
    assert exits == []
