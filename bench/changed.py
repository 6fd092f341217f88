"""What ``sync_mode: changed`` saves on a scheduled re-run where nothing changed.

Run as ``python -m bench.changed [--accounts 100]``. A script, not a test:
about three minutes.

One tap process with k accounts (default 100), each its own client id at the
vendor's limit shape (10 calls per 6 s window, ``requests_per_minute`` 100),
100 campaigns per account listed in pages of 10, 2 s syncs at 4 in flight,
piped into the real target-postgres (private Postgres unless
``MIXOADS_POSTGRES_URL`` is set). First a seeding run under ``all`` writes
the state; then the same state is given to two re-runs over the unchanged
accounts (only the metrics move, as on the vendor's server): one under
``all``, one under ``changed``. For each: wall time from launch until both
processes exit, list and sync calls, 429s, rows in Postgres. Exit status 1
if a run fails, a 429 is seen, a row is missing, or the ``changed`` re-run
makes any sync call.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.accounts import account_entries, mock, rows_in, start_pipeline
from devtools.pg import postgres_from_env_or_private, target_postgres_config

CAMPAIGNS = 100
PAGE_SIZE = 10
RPM = 100
CONCURRENCY = 4


def pipeline(
    tap_cfg: dict[str, Any],
    target_cfg: dict[str, Any],
    state: dict[str, Any] | None,
    tmp: Path,
) -> tuple[float, int, int, dict[str, Any] | None, str]:
    """Run tap | target-postgres; (wall, tap rc, target rc, final state, stderr)."""
    args: tuple[str, ...] = ()
    if state is not None:
        (tmp / "state.json").write_text(json.dumps(state))
        args = ("--state", str(tmp / "state.json"))
    started = time.monotonic()
    with (tmp / "target.out").open("wb") as out:
        tap, target, tap_err, _ = start_pipeline(
            tap_cfg, target_cfg, tmp, "run", tap_args=args, target_stdout=out
        )
        target.wait(timeout=900)
        tap.wait(timeout=60)
    wall = time.monotonic() - started
    final = None
    for line in reversed((tmp / "target.out").read_text().splitlines()):
        if line.startswith("{"):
            final = json.loads(line)
            break
    stderr = tap_err.read_text(errors="replace")
    return wall, tap.returncode, target.returncode, final, stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100)
    k = parser.parse_args().accounts
    problems: list[str] = []
    lines = [
        f"{k} accounts x {CAMPAIGNS} campaigns, pages of {PAGE_SIZE}, 10 calls / 6 s "
        "per client id, 2 s syncs",
        "",
        "| run | wall s | list calls | sync calls | 429s | rows | state bytes / campaign |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    with (
        tempfile.TemporaryDirectory(prefix="bench-changed-") as tmp_name,
        postgres_from_env_or_private(Path(tmp_name) / "pg") as pg_url,
        mock(k, CAMPAIGNS) as server,
    ):
        entries = account_entries(k)
        base = {
            "api_url": server.url,
            "accounts": entries,
            "page_size": PAGE_SIZE,
            "requests_per_minute": RPM,
            "sync_concurrency": CONCURRENCY,
            "metrics_log_level": "WARNING",
        }
        schema = f"bench_changed_{os.getpid()}"
        target_cfg = target_postgres_config(pg_url, schema)
        seeded: dict[str, Any] | None = None
        for name, mode in (
            ("seeding run, all", "all"),
            ("unchanged re-run, all", "all"),
            ("unchanged re-run, changed", "changed"),
        ):
            server.reset()
            run_dir = Path(tmp_name) / mode / str(seeded is None)
            run_dir.mkdir(parents=True)
            wall, tap_rc, target_rc, final, stderr = pipeline(
                {**base, "sync_mode": mode}, target_cfg, seeded, run_dir
            )
            stats = server.stats()
            list_calls = int(stats["requests"].get("GET /api/campaigns", 0))
            sync_calls = sum(stats["sync_calls"].values())
            rows = rows_in(pg_url, [schema])
            size = len(json.dumps(final, separators=(",", ":"))) if final else 0
            lines.append(
                f"| {name} | {wall:.1f} | {list_calls} | {sync_calls} "
                f"| {stats['rate_limited']} | {rows[0]} "
                f"| {size / (k * CAMPAIGNS):.1f} |"
            )
            if tap_rc or target_rc:
                problems.append(f"{name}: exit tap={tap_rc} target={target_rc}")
                problems.extend(stderr.splitlines()[-3:])
            if stats["rate_limited"]:
                problems.append(f"{name}: {stats['rate_limited']} x 429")
            if rows != (k * CAMPAIGNS, k * CAMPAIGNS):
                problems.append(f"{name}: rows/distinct {rows}")
            if mode == "changed" and sync_calls:
                problems.append(f"{name}: {sync_calls} sync calls, not 0")
            if seeded is None:
                seeded = final
    print("\n".join(lines))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
