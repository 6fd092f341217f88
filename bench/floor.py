"""How close the full job runs to the floor the vendor's rate limit allows.

Run as ``python -m bench.floor [--windows 6,60] [--quick]``. It is a script,
not a test: one full run takes about 11 minutes, because the 60 s window is
the vendor's real one and the floor there is ten minutes.

Part A ("the full job at the rate-limit floor"): the real tap (100 campaigns,
one list call of 100, a sync per campaign, 4 syncs in flight) piped into the
real target-postgres, against the mock with the vendor's limit shape (10 calls
per window, 2 s syncs, no transport faults). The 101 strictly needed calls can
finish no sooner than ``10 * window + sync_delay`` after the first: the 101st
call starts 10 full windows after the first and takes ``sync_delay``. Goal:
wall / floor <= 1.03, no 429, and 100 rows / 100 ids / 100 successful syncs in
Postgres.

Part B ("with a lenient limit"): 6000 calls/min, so only the sync concurrency
bounds the run: 100 * sync_delay / concurrency. Goal: wall / ideal <= 1.10.

Wall time runs from launching the pipeline until both processes have exited.
Per run it also prints where the time went, from the tap's stderr lines
(stamped on arrival) and the mock's ``api_request_times``, both on this
machine's monotonic clock. Exits 1 if any goal is missed.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psycopg
import requests

from devtools.pg import postgres_from_env_or_private, target_postgres_config
from mock_api.testing import MockServer
from tests.helpers import DEMO_EMAIL, DEMO_PASSWORD

REPO_ROOT = Path(__file__).resolve().parent.parent
CAMPAIGNS = 100
PAGE_SIZE = 100
CONCURRENCY = 4
SYNC_DELAY = 2.0
LIMIT_PER_WINDOW = 10
CLIENT_ID = "bench-floor"
#: Calls the job cannot do without: one list call of 100, one sync each.
NEEDED_CALLS = 1 + CAMPAIGNS
FLOOR_GOAL = 1.03
LENIENT_GOAL = 1.10
LENIENT_RATE = 6000
LIST_ROUTE = "GET /api/campaigns"
SYNC_ROUTE = "POST /api/campaigns/{id}/sync"
#: Generous: the 60 s case needs about 10 minutes.
PIPELINE_TIMEOUT = 30 * 60


@dataclass
class Pipeline:
    """One ``tap | target-postgres`` run, with its stderr lines time-stamped."""

    started: float
    tap_exit: float
    target_exit: float
    tap_rc: int
    target_rc: int
    tap_lines: list[tuple[float, str]] = field(default_factory=list)
    target_lines: list[tuple[float, str]] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return max(self.tap_exit, self.target_exit) - self.started

    def tap_line_at(self, needle: str, *, last: bool = False) -> float | None:
        hits = [at for at, line in self.tap_lines if needle in line]
        if not hits:
            return None
        return hits[-1] if last else hits[0]


@dataclass
class Case:
    """The outcome of one benchmark case."""

    name: str
    wall: float
    bound: float
    bound_name: str
    goal: float
    list_calls: int
    sync_calls: int
    rate_limited: int
    rows: tuple[int, int, int]
    pipeline: Pipeline
    api_times: list[float]
    window: float | None
    problems: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.wall / self.bound

    @property
    def ok(self) -> bool:
        return not self.problems


def _stamp_lines(stream: IO[bytes], out: list[tuple[float, str]]) -> None:
    for raw in stream:
        out.append((time.monotonic(), raw.decode(errors="replace").rstrip("\n")))


def run_pipeline(tap_cfg: dict[str, Any], target_cfg: dict[str, Any]) -> Pipeline:
    """Run the real tap into the real target-postgres, as Meltano would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MIXOADS_")}
    target_bin = str(Path(sys.executable).parent / "target-postgres")
    with tempfile.TemporaryDirectory() as tmp:
        tap_path = Path(tmp, "tap.json")
        tap_path.write_text(json.dumps(tap_cfg))
        target_path = Path(tmp, "target.json")
        target_path.write_text(json.dumps(target_cfg))
        tap_lines: list[tuple[float, str]] = []
        target_lines: list[tuple[float, str]] = []
        started = time.monotonic()
        tap = subprocess.Popen(
            [sys.executable, "-m", "tap_mixoads", "--config", str(tap_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO_ROOT,
            env=env,
        )
        target = subprocess.Popen(
            [target_bin, "--config", str(target_path)],
            stdin=tap.stdout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=REPO_ROOT,
            env=env,
        )
        assert tap.stdout is not None and tap.stderr is not None
        assert target.stderr is not None
        tap.stdout.close()  # the target owns the read end now
        pumps = [
            threading.Thread(target=_stamp_lines, args=(tap.stderr, tap_lines)),
            threading.Thread(target=_stamp_lines, args=(target.stderr, target_lines)),
        ]
        for pump in pumps:
            pump.start()
        exits: dict[str, float] = {}

        def reap(name: str, proc: subprocess.Popen[bytes]) -> None:
            proc.wait()
            exits[name] = time.monotonic()

        reapers = [
            threading.Thread(target=reap, args=("tap", tap)),
            threading.Thread(target=reap, args=("target", target)),
        ]
        for reaper in reapers:
            reaper.start()
        try:
            for reaper in reapers:
                reaper.join(timeout=PIPELINE_TIMEOUT)
        finally:
            for proc in (tap, target):
                if proc.poll() is None:
                    proc.kill()
            for thread in reapers + pumps:
                thread.join()
    return Pipeline(
        started,
        exits["tap"],
        exits["target"],
        tap.returncode,
        target.returncode,
        tap_lines,
        target_lines,
    )


def mock_clock_origin(server: MockServer) -> float:
    """The mock's ``api_request_times`` origin on our monotonic clock.

    Both processes read the same CLOCK_MONOTONIC; ``/health`` reports
    ``now - started`` on the mock's side, so ``started`` = our reading at the
    middle of the call minus that uptime (good to about a millisecond).
    """
    before = time.monotonic()
    uptime = float(requests.get(server.url + "/health", timeout=5).json()["uptime"])
    after = time.monotonic()
    return (before + after) / 2 - uptime


def count_rows(pg_url: str, schema: str) -> tuple[int, int, int]:
    """(rows, distinct ids, successful syncs) loaded into ``schema``."""
    sql = (
        "select count(*), count(distinct id), "
        "count(*) filter (where sync_status = 'success') "
        f'from "{schema}".campaigns'
    )
    try:
        with psycopg.connect(pg_url) as conn:
            row = conn.execute(sql).fetchone()
    except psycopg.Error:
        return (0, 0, 0)
    assert row is not None
    return (int(row[0]), int(row[1]), int(row[2]))


def run_case(
    name: str,
    pg_url: str,
    *,
    rate_limit: int,
    rate_window: float,
    requests_per_minute: int,
    bound: float,
    bound_name: str,
    goal: float,
    check_floor: bool,
) -> Case:
    """Start a mock with this limit shape, run the pipeline, collect evidence."""
    schema = f"bench_floor_{name.replace(' ', '_').replace('.', '_')}_{os.getpid()}"
    schema = f"{schema}_{int(time.time())}"
    knobs = {
        "campaigns": CAMPAIGNS,
        "rate_limit": rate_limit,
        "rate_window": rate_window,
        "sync_delay": SYNC_DELAY,
        "error_rate": 0.0,
        "hang_rate": 0.0,
    }
    with MockServer(profile="vendor", **knobs) as server:
        origin = mock_clock_origin(server)
        tap_cfg = {
            "api_url": server.url,
            "email": DEMO_EMAIL,
            "password": DEMO_PASSWORD,
            "client_id": CLIENT_ID,
            "page_size": PAGE_SIZE,
            "requests_per_minute": requests_per_minute,
            "sync_mode": "all",
            "sync_concurrency": CONCURRENCY,
        }
        pipe = run_pipeline(tap_cfg, target_postgres_config(pg_url, schema))
        stats = server.stats()
    requests_seen = stats.get("requests", {})
    api_times = sorted(
        origin + t for t in stats.get("api_request_times", {}).get(CLIENT_ID, [])
    )
    case = Case(
        name=name,
        wall=pipe.wall,
        bound=bound,
        bound_name=bound_name,
        goal=goal,
        list_calls=int(requests_seen.get(LIST_ROUTE, 0)),
        sync_calls=int(requests_seen.get(SYNC_ROUTE, 0)),
        rate_limited=int(stats.get("rate_limited", 0)),
        rows=count_rows(pg_url, schema),
        pipeline=pipe,
        api_times=api_times,
        window=rate_window if check_floor else None,
    )
    if case.ratio > goal:
        case.problems.append(f"ratio {case.ratio:.3f} > {goal:.2f}")
    if check_floor and case.rate_limited:
        case.problems.append(f"{case.rate_limited} x 429")
    if case.rows != (CAMPAIGNS, CAMPAIGNS, CAMPAIGNS):
        case.problems.append("rows/ids/synced = {}/{}/{}".format(*case.rows))
    if pipe.tap_rc or pipe.target_rc:
        case.problems.append(f"exit codes tap={pipe.tap_rc} target={pipe.target_rc}")
    return case


def _rel(at: float | None, origin: float) -> str:
    return "    -" if at is None else f"{at - origin:7.2f}"


def breakdown(case: Case) -> list[str]:
    """Where the wall time went, as offsets from launching the pipeline."""
    pipe = case.pipeline
    t0 = pipe.started
    first_line = pipe.tap_lines[0][0] if pipe.tap_lines else None
    token = pipe.tap_line_at("Obtained a bearer token")
    page = pipe.tap_line_at("Page 1:")
    synced = pipe.tap_line_at("synced ", last=True)
    times = case.api_times
    first_api = times[0] if times else None
    last_api = times[-1] if times else None
    lines = [
        f"  [{case.name}] timeline, seconds after launch:",
        f"    first tap stderr line     {_rel(first_line, t0)}",
        f"    token obtained            {_rel(token, t0)}",
        f"    first /api call arrives   {_rel(first_api, t0)}",
        f"    'Page 1' logged           {_rel(page, t0)}",
        f"    last /api call arrives    {_rel(last_api, t0)}",
        f"    'synced N/M' logged       {_rel(synced, t0)}",
        f"    tap exits                 {_rel(pipe.tap_exit, t0)}",
        f"    target-postgres exits     {_rel(pipe.target_exit, t0)}",
    ]
    if first_api is None or last_api is None or len(times) < 2:
        return lines
    gaps = [b - a for a, b in itertools.pairwise(times)]
    span = last_api - first_api
    lines.append(
        f"    /api calls: {len(times)}, spacing mean {span / len(gaps) * 1000:.1f} ms"
        f" (min {min(gaps) * 1000:.1f}, max {max(gaps) * 1000:.1f})"
    )
    end = max(pipe.tap_exit, pipe.target_exit)
    if case.window is not None:
        ideal_span = (NEEDED_CALLS - 1) * case.window / LIMIT_PER_WINDOW
        if len(times) > LIMIT_PER_WINDOW:
            # The server's own test: call i+limit must arrive a full window
            # after call i. The smallest excess is the margin really left.
            spans = [
                b - a for a, b in zip(times, times[LIMIT_PER_WINDOW:], strict=False)
            ]
            lines.append(
                f"    tightest {LIMIT_PER_WINDOW}-call span at the server: "
                f"window + {(min(spans) - case.window) * 1000:.1f} ms"
            )
        parts = [
            ("before first call (startup, token)", first_api - t0),
            ("pacing beyond the exact spacing", span - ideal_span),
            ("last call -> tap exit", pipe.tap_exit - last_api),
            ("tap exit -> target exit", pipe.target_exit - pipe.tap_exit),
        ]
        lines.append(
            f"    cost over the floor ({case.wall - case.bound:+.2f} s) = "
            "sum of the following minus sync_delay:"
        )
    else:
        parts = [
            ("before first call (startup, token)", first_api - t0),
            ("first -> last call", span),
            ("last call -> tap exit", pipe.tap_exit - last_api),
            ("tap exit -> target exit", pipe.target_exit - pipe.tap_exit),
        ]
    for label, seconds in parts:
        lines.append(f"      {label:<38} {seconds:7.2f} s")
    lines.append(f"      {'total (= wall)':<38} {end - t0:7.2f} s")
    return lines


def machine_lines() -> list[str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    now = datetime.datetime.now(datetime.UTC).astimezone()
    return [
        f"date:    {now.isoformat(timespec='seconds')}",
        f"machine: {os.cpu_count()} CPUs, {model}; Python {platform.python_version()}"
        f" ({platform.system()} {platform.release()})",
    ]


def table(cases: list[Case]) -> list[str]:
    head = (
        f"{'case':<22} {'wall s':>8} {'bound s':>8} {'bound':<28} {'ratio':>6} "
        f"{'goal':>6} {'calls (list+sync)':>18} {'429s':>5} "
        f"{'rows/ids/synced':>16}  result"
    )
    out = [head, "-" * len(head)]
    for case in cases:
        total = case.list_calls + case.sync_calls
        calls = f"{total} ({case.list_calls}+{case.sync_calls})"
        rows = "{}/{}/{}".format(*case.rows)
        verdict = "ok" if case.ok else "MISS: " + "; ".join(case.problems)
        out.append(
            f"{case.name:<22} {case.wall:8.2f} {case.bound:8.2f} {case.bound_name:<28} "
            f"{case.ratio:6.3f} {'<=' + format(case.goal, '.2f'):>6} {calls:>18} "
            f"{case.rate_limited:>5} {rows:>16}  {verdict}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument(
        "--windows",
        default="6,60",
        help="rate windows in seconds for part A, comma separated (default 6,60)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="only the 6 s window, plus part B"
    )
    args = parser.parse_args(argv)
    windows = [6.0] if args.quick else [float(w) for w in args.windows.split(",") if w]
    for line in machine_lines():
        print(line, flush=True)
    cases: list[Case] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-floor-pg-") as pg_dir,
        postgres_from_env_or_private(pg_dir) as pg_url,
    ):
        for window in windows:
            rpm = round(LIMIT_PER_WINDOW * 60 / window)
            floor = LIMIT_PER_WINDOW * window + SYNC_DELAY
            print(f"running part A, window {window:g} s ...", flush=True)
            cases.append(
                run_case(
                    f"A floor, {window:g}s window",
                    pg_url,
                    rate_limit=LIMIT_PER_WINDOW,
                    rate_window=window,
                    requests_per_minute=rpm,
                    bound=floor,
                    bound_name=f"floor 10*{window:g}+{SYNC_DELAY:g}",
                    goal=FLOOR_GOAL,
                    check_floor=True,
                )
            )
        print("running part B, lenient limit ...", flush=True)
        ideal = CAMPAIGNS * SYNC_DELAY / CONCURRENCY
        cases.append(
            run_case(
                "B lenient 6000/min",
                pg_url,
                rate_limit=LENIENT_RATE,
                rate_window=60.0,
                requests_per_minute=LENIENT_RATE,
                bound=ideal,
                bound_name=f"ideal {CAMPAIGNS}*{SYNC_DELAY:g}/{CONCURRENCY}",
                goal=LENIENT_GOAL,
                check_floor=False,
            )
        )
    print()
    for line in table(cases):
        print(line)
    print()
    for case in cases:
        for line in breakdown(case):
            print(line)
    missed = [case for case in cases if not case.ok]
    print()
    print("all goals met" if not missed else f"{len(missed)} case(s) missed a goal")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
