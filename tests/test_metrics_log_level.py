"""``metrics_log_level``: the SDK's METRIC lines on demand, the tap's own always.

At INFO (the SDK's default) METRIC lines were 86% of a 100-campaign run's
log (118 of 137 lines); a person reading the log sets WARNING and keeps the
tap's own lines (pages, the summary, the run report).
"""

from __future__ import annotations

import pytest

from tests.helpers import run_tap, tap_config


@pytest.mark.parametrize(("level", "metric_lines"), [(None, True), ("WARNING", False)])
def test_metric_lines_follow_metrics_log_level(calm, level, metric_lines):
    overrides = {"metrics_log_level": level} if level else {}
    run = run_tap(tap_config(calm.url, page_size=50, sync_mode="none", **overrides))
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stderr.splitlines()
    assert any("METRIC:" in line for line in lines) is metric_lines
    assert any("run report:" in line for line in lines)
    assert any("Page 2: 50 campaigns" in line for line in lines)


def test_an_unknown_level_is_one_line_naming_the_setting(calm):
    run = run_tap(tap_config(calm.url, metrics_log_level="LOUD"))
    assert run.returncode == 1
    assert "setting 'metrics_log_level'" in run.stderr
    assert "Traceback" not in run.stderr
