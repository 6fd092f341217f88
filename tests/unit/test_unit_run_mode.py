"""The run's mode: decided once, from what the run is."""

from __future__ import annotations

import pytest

from tap_mixoads.config.mode import RunMode


@pytest.mark.parametrize(
    ("schema_only", "test", "probe", "mode"),
    [
        (False, False, False, RunMode.NORMAL),
        (False, True, False, RunMode.TEST),
        (False, False, True, RunMode.PROBE),
        (False, True, True, RunMode.TEST),
        (True, True, True, RunMode.SCHEMA_ONLY),
    ],
)
def test_the_first_trait_that_holds_decides(schema_only, test, probe, mode):
    assert RunMode.decide(schema_only=schema_only, test=test, probe=probe) is mode


def test_only_a_normal_run_changes_things():
    assert [m for m in RunMode if m.changes_things] == [RunMode.NORMAL]
