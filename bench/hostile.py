"""Figures for a hostile server: peak RSS on body bombs, METRIC share of the log.

    .venv/bin/python -m bench.hostile

Starts the mock (calm profile) per case and runs the real tap against it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time

import psutil

from mock_api.testing import MockServer
from tests.helpers import run_tap, tap_config


def bomb_rss() -> None:
    for kind, size in (("gzip", 2**31), ("plain", 512 * 2**20)):
        with MockServer("calm", body_bomb=kind, body_bomb_bytes=size) as server:
            cfg = tap_config(server.url, max_retries=2)
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
                json.dump(cfg, fh)
            started = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-m", "tap_mixoads", "--config", fh.name],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            process, peak = psutil.Process(proc.pid), 0
            while proc.poll() is None:
                try:
                    peak = max(peak, process.memory_info().rss)
                except psutil.Error:
                    break
                time.sleep(0.01)
            last = proc.stderr.read().decode().strip().splitlines()[-1]
            print(
                f"{kind} body of {size / 2**20:.0f} MiB decoded: exit {proc.returncode} "
                f"after {time.monotonic() - started:.1f} s, peak RSS "
                f"{peak / 2**20:.0f} MB; {last}"
            )


def metric_share() -> None:
    with MockServer("calm", campaigns=100, sync_delay=0.05) as server:
        for level in ("INFO", "WARNING"):
            run = run_tap(tap_config(server.url, page_size=10, metrics_log_level=level))
            lines = run.stderr.splitlines()
            metric = sum("METRIC:" in line for line in lines)
            print(
                f"metrics_log_level={level}: exit {run.returncode}, {len(lines)} log "
                f"lines, {metric} METRIC ({metric / len(lines):.0%})"
            )


if __name__ == "__main__":
    bomb_rss()
    metric_share()
