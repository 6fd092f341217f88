"""Soak: many seeded chaos pipelines, one table of what was lost, doubled, leaked.

Each seed runs the real tap piped into the real target-postgres, against the
mock's ``chaos`` profile (every fault at once), into its own schema of a
private PostgreSQL (``devtools.pg.postgres_from_env_or_private``). Most seeds
switch the mock's rate limit off to stay quick; every ``--limited-every``-th
seed keeps it (10 calls per 3 s) and gives the tap that budget less 10%.

On top of the chaos profile every seed also gets the faults a run must
survive without exit 1 (``extra_faults``): hostile values in fixed campaigns
(the three with unusable ids are rejected by the data policy, so they are
expected to be missing, not "lost"), tokens forgotten as by an API restart,
one short page that a re-read recovers (the kind rotates with the seed), and
on every other seed a last page padded with phantoms.

Usage::

    .venv/bin/python -m bench.soak --seeds 50 [--jobs 4]

Exits 1 if any run lost a campaign, loaded one twice, loaded one that does
not exist, leaked a secret, or failed outright.
"""

from __future__ import annotations

import argparse
import base64
import collections
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg

from devtools.pg import postgres_from_env_or_private, target_postgres_config
from mock_api.config import BAD_VALUES, PAGE_FAULTS
from mock_api.testing import MockServer
from tests.helpers import DEMO_EMAIL, run_pipeline, tap_config
from tests.test_chaos import CHAOS_MAX_RETRIES, CHAOS_REQUESTS_PER_MINUTE

ALL_IDS = {f"campaign_{i}" for i in range(1, 101)}
#: Campaigns whose planted id the data policy rejects (10 KiB, "..", "a/../b").
REJECTED_IDS = {"campaign_6", "campaign_7", "campaign_8"}
#: Every bad value but a sync that always fails (tested in test_bad_values):
#: under chaos retries it would only slow the soak down.
SOAK_BAD_VALUES = tuple(v for v in BAD_VALUES if v != "nul_sync_error")
SHORT_PAGE_FAULTS = tuple(f for f in PAGE_FAULTS if f != "none")


def extra_faults(seed: int) -> dict[str, object]:
    """The exit-truth faults a seed adds to the chaos profile (all recoverable)."""
    return {
        "bad_values": SOAK_BAD_VALUES,
        "token_amnesia": True,
        "token_amnesia_after": 3.0,
        "page_fault": SHORT_PAGE_FAULTS[seed % len(SHORT_PAGE_FAULTS)],
        "page_fault_page": 2 + seed % 9,
        "page_fault_times": 1,
        "pad_last_page": seed % 2 == 0,
    }


@dataclass
class SeedResult:
    seed: int
    limited: bool
    seconds: float
    ok: bool
    lost: int
    duplicates: int
    invented: int
    leaks: list[str]
    failed_syncs: int
    rate_limited: int
    faults: dict[str, int] = field(default_factory=dict)
    problem: str = ""


def run_seed(seed: int, limited: bool, pg_url: str) -> SeedResult:
    password = f"Pw-SOAK-{uuid.uuid4().hex[:12]}"
    basic = base64.b64encode(f"{DEMO_EMAIL}:{password}".encode()).decode()
    schema = f"soak_{seed}_{uuid.uuid4().hex[:6]}"
    knobs: dict[str, object] = {
        "seed": seed,
        "password": password,
        **extra_faults(seed),
    }
    if not limited:
        knobs["rate_limit"] = 0
    started = time.monotonic()
    with MockServer(profile="chaos", **knobs) as server:
        config = tap_config(
            server.url,
            password=password,
            page_size=10,
            request_timeout=1.0,
            # The chaos profile fails ~45% of list calls (vendor: ~30%), so
            # 8 attempts would give up on about 1 call in 600; 12 make it
            # about 1 in 15,000.
            max_retries=CHAOS_MAX_RETRIES,
            sync_concurrency=8,
            requests_per_minute=CHAOS_REQUESTS_PER_MINUTE if limited else 60000,
        )
        run = run_pipeline(config, target_postgres_config(pg_url, schema), timeout=600)
        stats = server.stats()
        secrets = [password, basic, *server.tokens()]
    seconds = time.monotonic() - started
    table = f'"{schema}".campaigns'
    try:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            ids = [r[0] for r in conn.execute(f"select id from {table}").fetchall()]
            dump = "\n".join(
                r[0] for r in conn.execute(f"select t::text from {table} t").fetchall()
            )
            failed_syncs = conn.execute(
                f"select count(*) from {table} where sync_status = 'failed'"
            ).fetchone()
            conn.execute(f'drop schema if exists "{schema}" cascade')
    except psycopg.Error as exc:
        ids, dump, failed_syncs = [], "", (0,)
        problem = f"no table: {type(exc).__name__}"
    else:
        problem = ""
    texts = {
        "tap stderr": run.tap_stderr,
        "target stderr": run.target_stderr,
        "target stdout": run.target_stdout,
        "rows": dump,
    }
    leaks = [where for where, text in texts.items() if any(s in text for s in secrets)]
    counts = collections.Counter(ids)
    ok = run.tap_returncode == 0 and run.target_returncode == 0 and not problem
    if not ok and not problem:
        problem = f"exit codes tap={run.tap_returncode} target={run.target_returncode}"
        errors = [x for x in run.tap_stderr.splitlines() if "tap-mixoads: error:" in x]
        problem += "".join(f"; {line}" for line in errors[-1:])
    return SeedResult(
        seed=seed,
        limited=limited,
        seconds=seconds,
        ok=ok,
        lost=len(ALL_IDS - REJECTED_IDS - set(counts)),
        duplicates=sum(n - 1 for n in counts.values()),
        invented=len(set(counts) - (ALL_IDS - REJECTED_IDS)),
        leaks=leaks,
        failed_syncs=int(failed_syncs[0]) if failed_syncs else 0,
        rate_limited=int(stats.get("rate_limited", 0)),
        faults=dict(stats.get("faults", {})),
        problem=problem,
    )


def print_table(results: list[SeedResult], wall: float) -> None:
    faults: collections.Counter[str] = collections.Counter()
    for result in results:
        faults.update(result.faults)
    limited = [r for r in results if r.limited]
    rows: list[tuple[str, str]] = [
        ("runs", f"{len(results)} ({len(limited)} with the rate limit on)"),
        ("runs failed", str(sum(not r.ok for r in results))),
    ]
    rows += [(f"faults: {kind}", str(n)) for kind, n in sorted(faults.items())]
    rows += [
        ("faults: total", str(sum(faults.values()))),
        ("429s with the limiter on", str(sum(r.rate_limited for r in limited))),
        ("syncs recorded as failed", str(sum(r.failed_syncs for r in results))),
        ("rows lost", str(sum(r.lost for r in results))),
        ("duplicates", str(sum(r.duplicates for r in results))),
        ("rows invented (phantoms)", str(sum(r.invented for r in results))),
        ("secret leaks", str(sum(len(r.leaks) for r in results))),
        ("slowest run", f"{max((r.seconds for r in results), default=0):.1f} s"),
        ("wall time", f"{wall:.1f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"| {'what'.ljust(width)} | value")
    print(f"|{'-' * (width + 2)}|------")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value}")
    for result in results:
        bad = (
            not result.ok
            or result.lost
            or result.duplicates
            or result.invented
            or result.leaks
        )
        if bad:
            print(
                f"seed {result.seed}: lost={result.lost} dup={result.duplicates} "
                f"invented={result.invented} leaks={result.leaks} {result.problem}",
                file=sys.stderr,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--seeds", type=int, default=50, help="number of runs")
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=4, help="pipelines at once")
    parser.add_argument(
        "--limited-every",
        type=int,
        default=25,
        help="keep the mock's rate limit on for every N-th seed (0: never)",
    )
    args = parser.parse_args(argv)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="soak-pg-") as pgdir,
        postgres_from_env_or_private(pgdir) as pg_url,
        ThreadPoolExecutor(max_workers=args.jobs) as pool,
    ):
        futures = [
            pool.submit(
                run_seed,
                seed,
                bool(args.limited_every) and i % args.limited_every == 0,
                pg_url,
            )
            for i, seed in enumerate(seeds)
        ]
        results = [f.result() for f in futures]
    print_table(results, time.monotonic() - started)
    bad = any(
        not r.ok or r.lost or r.duplicates or r.invented or r.leaks for r in results
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
