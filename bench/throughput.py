"""Throughput at scale: the tap alone, the plain-SDK baseline, and into Postgres.

Run: ``.venv/bin/python -m bench.throughput [--sizes 10000,100000,1000000]``.

Against the ``calm`` mock (no limit, no faults), sync off, large pages:

- tap -> /dev/null (through a pipe the bench drains): records/s and peak RSS;
- the baseline (bench/baseline_tap.py, a dozen lines of plain singer-sdk) the
  same way, in the same run;
- tap -> target-postgres into a private PostgreSQL: rows/s; and as its floor,
  target-postgres loading the same records from a file.

"Steady" rates count from the first byte the process writes to its last, so
the ~1 s of Python start-up that both taps pay does not hide the difference;
wall times include everything. Prints one table; exits non-zero if a goal is
missed: tap >= 2x baseline (steady records/s) and end to end <= 1.15x the
file load, each at every size >= 100k (below that, the ~0.7 s the tap needs
to start and fetch its first page is a fixed cost the table still shows), and
tap peak RSS at the largest size <= 1.2x at the smallest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.floor import machine_lines
from devtools.pg import postgres_from_env_or_private, target_postgres_config
from mock_api.testing import MockServer
from tests.helpers import DEMO_EMAIL, DEMO_PASSWORD

ROOT = Path(__file__).resolve().parent.parent
PAGE_SIZE = 10_000
CHUNK = 1 << 20
GOAL_SPEEDUP = 2.0
GOAL_RSS = 1.2
GOAL_E2E = 1.15


@dataclass
class Measured:
    wall: float
    steady: float
    lines: int
    rss_mb: float


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MIXOADS_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _write_json(directory: str, name: str, data: dict) -> str:
    path = os.path.join(directory, name)
    with open(path, "w") as fh:
        json.dump(data, fh)
    return path


def run_drained(cmd: list[str], *, save_to: str | None = None) -> Measured:
    """Run ``cmd``, drain its stdout in big chunks, time and measure it."""
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_env(), cwd=ROOT
    )
    assert proc.stdout is not None
    first = last = None
    lines = 0
    sink = open(save_to, "wb") if save_to else None
    try:
        while chunk := proc.stdout.read1(CHUNK):
            now = time.monotonic()
            first = first or now
            last = now
            lines += chunk.count(b"\n")
            if sink:
                sink.write(chunk)
    finally:
        if sink:
            sink.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    if status != 0:
        raise SystemExit(f"{cmd[:4]} failed with status {status}")
    return Measured(wall, (last or 0) - (first or 0), lines, usage.ru_maxrss / 1024)


def run_pipeline(tap_cmd: list[str], target_cmd: list[str]) -> tuple[float, float]:
    """tap | target; returns (wall, tap peak RSS MB)."""
    started = time.monotonic()
    tap_err, target_err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    tap = subprocess.Popen(
        tap_cmd, stdout=subprocess.PIPE, stderr=tap_err, env=_env(), cwd=ROOT
    )
    target = subprocess.Popen(
        target_cmd,
        stdin=tap.stdout,
        stdout=subprocess.DEVNULL,
        stderr=target_err,
        env=_env(),
        cwd=ROOT,
    )
    assert tap.stdout is not None
    tap.stdout.close()
    _, tap_status, usage = os.wait4(tap.pid, 0)
    target.wait()
    wall = time.monotonic() - started
    if tap_status != 0 or target.returncode != 0:
        for name, fh in (("tap", tap_err), ("target", target_err)):
            fh.seek(0)
            tail = fh.read().decode(errors="replace").splitlines()[-5:]
            print(f"{name} stderr tail:", *tail, sep="\n  ")
        raise SystemExit(
            f"pipeline failed (tap {tap_status}, target {target.returncode})"
        )
    return wall, usage.ru_maxrss / 1024


def load_from_file(target_cmd: list[str], path: str) -> float:
    started = time.monotonic()
    with open(path, "rb") as fh:
        subprocess.run(
            target_cmd,
            stdin=fh,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_env(),
            cwd=ROOT,
            check=True,
        )
    return time.monotonic() - started


def count_rows(url: str, schema: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            f'select count(distinct id) from "{schema}".campaigns'
        ).fetchone()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print("# bench.throughput")
    for line in machine_lines():
        print(f"# {line}")
    print(f"# calm mock, sync off, page_size {PAGE_SIZE}")
    py = sys.executable
    target_bin = str(Path(py).parent / "target-postgres")
    rows = []
    failures = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        postgres_from_env_or_private(os.path.join(tmp, "pg")) as pg_url,
    ):
        for n in sizes:
            with MockServer(profile="calm", campaigns=n, seed=1) as server:
                cfg = {
                    "api_url": server.url,
                    "email": DEMO_EMAIL,
                    "password": DEMO_PASSWORD,
                    "page_size": PAGE_SIZE,
                    "sync_mode": "none",
                    "requests_per_minute": 100_000,
                }
                tap_cfg = _write_json(tmp, f"tap{n}.json", cfg)
                tap_cmd = [py, "-m", "tap_mixoads", "--config", tap_cfg]
                base_cmd = [py, "-m", "bench.baseline_tap", "--config", tap_cfg]
                out_file = os.path.join(tmp, f"records{n}.jsonl")
                tap = run_drained(tap_cmd, save_to=out_file)
                base = run_drained(base_cmd)
                schema_e2e, schema_file = f"bench_e2e_{n}", f"bench_file_{n}"
                tgt_e2e = _write_json(
                    tmp, f"t{n}a.json", target_postgres_config(pg_url, schema_e2e)
                )
                tgt_file = _write_json(
                    tmp, f"t{n}b.json", target_postgres_config(pg_url, schema_file)
                )
                e2e_wall, _ = run_pipeline(tap_cmd, [target_bin, "--config", tgt_e2e])
                file_wall = load_from_file([target_bin, "--config", tgt_file], out_file)
                loaded = (
                    count_rows(pg_url, schema_e2e),
                    count_rows(pg_url, schema_file),
                )
            tap_rps, base_rps = n / tap.steady, n / base.steady
            rows.append((n, tap, base, tap_rps, base_rps, e2e_wall, file_wall, loaded))
            if n >= 100_000 and tap_rps < GOAL_SPEEDUP * base_rps:
                failures.append(f"{n}: tap only {tap_rps / base_rps:.2f}x the baseline")
            if loaded != (n, n):
                failures.append(f"{n}: rows loaded {loaded}, expected {n}")
            if n >= 100_000 and e2e_wall > GOAL_E2E * file_wall:
                failures.append(
                    f"{n}: end to end {e2e_wall / file_wall:.2f}x the file load"
                )
    header = (
        "| campaigns | tap wall s | tap steady rec/s | tap peak RSS MB | baseline steady rec/s "
        "| baseline peak RSS MB | speed-up | tap->postgres s (rows/s) | file->postgres s | e2e/file |"
    )
    print(header)
    print("|---:" * 10 + "|")
    for n, tap, base, tap_rps, base_rps, e2e, file_load, _ in rows:
        print(
            f"| {n:,} | {tap.wall:.2f} | {tap_rps:,.0f} | {tap.rss_mb:.0f} | {base_rps:,.0f} "
            f"| {base.rss_mb:.0f} | {tap_rps / base_rps:.2f}x | {e2e:.2f} ({n / e2e:,.0f}) "
            f"| {file_load:.2f} | {e2e / file_load:.2f} |"
        )
    rss_ratio = rows[-1][1].rss_mb / rows[0][1].rss_mb
    print(
        f"tap peak RSS {rows[-1][0]:,} vs {rows[0][0]:,}: {rss_ratio:.2f}x (goal <= {GOAL_RSS}x)"
    )
    if len(rows) > 1 and rss_ratio > GOAL_RSS:
        failures.append(f"peak RSS grew {rss_ratio:.2f}x")
    for failure in failures:
        print(f"GOAL MISSED: {failure}")
    print("all goals met" if not failures else f"{len(failures)} goal(s) missed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
