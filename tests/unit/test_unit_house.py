"""House rules that a grep can check: they fail the build, not a review."""

from __future__ import annotations

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "tap_mixoads"
MODULES = sorted(PACKAGE.rglob("*.py"))


def test_no_thread_local_carries_anything():
    """Objects are passed, never found through the thread that runs."""
    assert [p.name for p in MODULES if "threading.local" in p.read_text()] == []


def test_every_module_says_what_it_is():
    missing = [
        str(p.relative_to(PACKAGE))
        for p in MODULES
        if not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert missing == []
