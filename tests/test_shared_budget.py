"""Shared budget: one client id's turns, shared by processes through a store.

Real PostgreSQL (``pg_url``), real SQLite files, real worker processes and a
real mock API that answers 429 past its limit. Windows are short (10 calls per
1.5 s) with ~13% slack in the pacing (360/min), and nothing asserts on wall
time: what is checked is what the server counted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pyrate_limiter import RateItem

from devtools.pg import free_port
from mock_api.testing import MockServer
from tap_mixoads.errors import ConfigError
from tap_mixoads.http.budget import RequestPacer
from tap_mixoads.http.shared_budget import (
    SETTING,
    make_pacer,
    open_store,
    redact_url,
    table_name,
)
from tests.helpers import DEMO_EMAIL, DEMO_PASSWORD, REPO_ROOT

LIMIT = 10
WINDOW_S = 1.5
#: 6 calls/s against the server's 6.67/s: every 1.5 s window holds at most 9.
RPM = 360
CALLS_PER_WORKER = 8
WORKER_TIMEOUT_S = 50

#: One worker process: gets a token, opens its pacer, says READY, waits for
#: GO on stdin (so all workers start together), then paces its calls and
#: prints what the server answered as one JSON line.
WORKER = r"""
import asyncio, json, logging, sys
import requests
from tap_mixoads.http.shared_budget import make_pacer

args = json.loads(sys.argv[1])
session = requests.Session()
resp = session.post(
    args["api"] + "/auth/token", auth=(args["email"], args["password"]), timeout=10
)
resp.raise_for_status()
headers = {
    "Authorization": "Bearer " + resp.json()["access_token"],
    "X-Client-ID": args["client_id"],
}
pacer = make_pacer(
    requests_per_minute=args["rpm"],
    client_id=args["client_id"],
    shared_budget_url=args["store"],
    logger=logging.getLogger("worker"),
)
print("READY", flush=True)
sys.stdin.readline()
statuses = []


async def paced():
    for _ in range(args["calls"]):
        await pacer.turn()
        await pacer.mark_sending()
        r = session.get(
            args["api"] + "/api/campaigns",
            params={"page": 1, "limit": 1},
            headers=headers,
            timeout=10,
        )
        statuses.append(r.status_code)


asyncio.run(paced())
pacer.close()
print(json.dumps({"statuses": statuses}), flush=True)
"""

#: Takes one turn (non-blocking) from a budget of 1 per minute and prints
#: whether it was admitted: through make_pacer's store, or through a
#: pyrate-limiter Postgres bucket on a pool left in the session's time zone.
TURN = r"""
import json, sys
from pyrate_limiter import PostgresBucket, Rate, RateItem
from psycopg_pool import ConnectionPool
from tap_mixoads.http.shared_budget import open_store, table_name

args = json.loads(sys.argv[1])
if args["naive"]:
    pool = ConnectionPool(args["store"], min_size=1, max_size=1)
    bucket = PostgresBucket(pool, table_name(args["client_id"]), [Rate(1, 60_000)])
else:
    with open_store(args["store"]) as store:
        bucket = store.bucket(client_id=args["client_id"], interval_ms=60_000)
admitted = bucket.put(RateItem(args["client_id"], bucket.now()))
with bucket.pool.connection() if args["naive"] else store.pool.connection() as c:
    zone = c.execute("SHOW TimeZone").fetchone()[0]
bucket.close()
print(json.dumps({"admitted": admitted, "zone": zone}), flush=True)
"""


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
    )
    env.update(extra or {})
    return env


def run_workers(
    server: MockServer,
    client_id: str,
    store: str | None,
    envs: list[dict[str, str]],
    *,
    rpm: float = RPM,
    calls: int = CALLS_PER_WORKER,
) -> list[int]:
    """Run one worker per env, start them together; return every status."""
    procs = []
    for extra in envs:
        args = {
            "api": server.url,
            "email": DEMO_EMAIL,
            "password": DEMO_PASSWORD,
            "client_id": client_id,
            "store": store,
            "rpm": rpm,
            "calls": calls,
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, json.dumps(args)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=_env(extra),
                cwd=REPO_ROOT,
            )
        )
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != "READY":
                proc.kill()
                raise AssertionError(f"worker did not start: {proc.stderr.read()}")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("GO\n")
            proc.stdin.flush()
        statuses: list[int] = []
        for proc in procs:
            out, err = proc.communicate(timeout=WORKER_TIMEOUT_S)
            assert proc.returncode == 0, err
            statuses += json.loads(out.strip().splitlines()[-1])["statuses"]
        return statuses
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def api() -> Iterator[MockServer]:
    """A mock allowing 10 calls per 1.5 s per client id."""
    with MockServer(
        profile="calm", rate_limit=LIMIT, rate_window=WINDOW_S, seed=1
    ) as server:
        yield server


def take_turns(pacers: list[RequestPacer]) -> None:
    """Take a turn from each pacer, one after the other, on one event loop."""

    async def turns() -> None:
        for pacer in pacers:
            await pacer.turn()

    asyncio.run(turns())


def fresh_id(prefix: str) -> str:
    """A client id no other test (or earlier run on this database) used."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def assert_within_budget(server: MockServer, client_id: str, n: int) -> None:
    stats = server.client_stats(client_id)
    assert stats["requests"] == n
    assert stats["rate_limited"] == 0, stats
    assert stats["max_in_window"] <= LIMIT, stats


# --- 1. several processes, one budget ------------------------------------------


def test_control_without_shared_store_gets_429(api: MockServer) -> None:
    """Four processes each pacing alone overrun the client id: the test can fail."""
    client_id = fresh_id("Control")
    statuses = run_workers(api, client_id, None, [{}] * 4)
    stats = api.client_stats(client_id)
    assert statuses.count(429) > 0
    assert stats["rate_limited"] == statuses.count(429) > 0


def test_four_processes_share_postgres_budget(api: MockServer, pg_url: str) -> None:
    client_id = fresh_id("PgShared")
    statuses = run_workers(api, client_id, pg_url, [{}] * 4)
    assert statuses == [200] * 4 * CALLS_PER_WORKER
    assert_within_budget(api, client_id, 4 * CALLS_PER_WORKER)


def test_four_processes_share_sqlite_budget(api: MockServer, tmp_path: Path) -> None:
    client_id = fresh_id("SqliteShared")
    url = f"sqlite://{tmp_path}/budget.db"
    statuses = run_workers(api, client_id, url, [{}] * 4)
    assert statuses == [200] * 4 * CALLS_PER_WORKER
    assert_within_budget(api, client_id, 4 * CALLS_PER_WORKER)
    assert (tmp_path / "budget.db.lock").exists()


def test_fast_pacing_is_accurate_across_processes(mock_api: Any, pg_url: str) -> None:
    """600/min (one call per ~106 ms) from 4 processes against 10 per 0.9 s."""
    server = mock_api("calm", rate_limit=LIMIT, rate_window=0.9, seed=1)
    client_id = fresh_id("Fast")
    statuses = run_workers(server, client_id, pg_url, [{}] * 4, rpm=600, calls=10)
    assert statuses == [200] * 40
    assert_within_budget(server, client_id, 40)


# --- 2. table names ----------------------------------------------------------


def test_table_names_are_distinct_valid_and_short(pg_url: str) -> None:
    ids = ["AcmeClient", "acmeclient", "x" * 200, "x" * 199 + "y", "a'b\"c; --"]
    names = [table_name(cid) for cid in ids]
    assert len(set(names)) == len(ids)
    for name in names:
        assert name.startswith("mixoads_")
        assert name == name.lower() and name.isidentifier()
        assert len(f"timestampindex_{name}".encode()) <= 63  # pyrate's index name
    pacers = [
        make_pacer(
            requests_per_minute=1,  # one turn per minute: a second would block
            client_id=cid,
            shared_budget_url=pg_url,
            logger=logging.getLogger("test"),
        )
        for cid in ids
    ]
    try:
        # Each client id has its own turn: none of these acquires waits a minute.
        for pacer in pacers:
            assert pacer._limiter.try_acquire(pacer.name, blocking=False)
        # ... and the same id has none left.
        assert not pacers[0]._limiter.try_acquire(pacers[0].name, blocking=False)
        with psycopg.connect(pg_url) as conn:
            tables = {
                row[0]
                for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE tablename LIKE %s",
                    ("ratelimit___mixoads_%",),
                )
            }
        assert {f"ratelimit___{name}" for name in names} <= tables
    finally:
        for pacer in pacers:
            pacer.close()


def test_sqlite_table_per_client_id(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/b.db"
    logger = logging.getLogger("test")
    one = make_pacer(
        requests_per_minute=1, client_id="Acme", shared_budget_url=url, logger=logger
    )
    two = make_pacer(
        requests_per_minute=1, client_id="acme", shared_budget_url=url, logger=logger
    )
    # Buckets directly: pyrate's non-blocking try_acquire passes False to the
    # file lock as a timeout, which filelock rejects (the tap only blocks).
    first: Any = one._limiter.bucket_factory.bucket  # type: ignore[attr-defined]
    second: Any = two._limiter.bucket_factory.bucket  # type: ignore[attr-defined]
    try:
        assert first.put(RateItem("Acme", 0))
        assert second.put(RateItem("acme", 0))
        assert not first.put(RateItem("Acme", 0))
    finally:
        one.close()
        two.close()


# --- 3. time zones -------------------------------------------------------------

ZONES = [
    {"TZ": "Pacific/Honolulu", "PGTZ": "Pacific/Honolulu"},  # UTC-10
    {"TZ": "Asia/Tokyo", "PGTZ": "Asia/Tokyo"},  # UTC+9
]


def take_turn(pg_url: str, client_id: str, *, naive: bool, env: dict[str, str]) -> Any:
    args = {"store": pg_url, "client_id": client_id, "naive": naive}
    proc = subprocess.run(
        [sys.executable, "-c", TURN, json.dumps(args)],
        capture_output=True,
        text=True,
        env=_env(env),
        cwd=REPO_ROOT,
        timeout=WORKER_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_time_zone_control_unpinned_sessions_let_two_turns_through(
    pg_url: str,
) -> None:
    """The pitfall itself: pyrate's bucket in the session's zone.

    With a budget of one turn per minute, a Honolulu session takes a turn,
    and a Tokyo session right after it reads that turn as 19 hours old: two
    turns within seconds.
    """
    client_id = fresh_id("TzNaive")
    first = take_turn(pg_url, client_id, naive=True, env=ZONES[0])
    second = take_turn(pg_url, client_id, naive=True, env=ZONES[1])
    assert first == {"admitted": True, "zone": "Pacific/Honolulu"}
    assert second == {"admitted": True, "zone": "Asia/Tokyo"}


def test_time_zone_pinned_sessions_share_one_turn(pg_url: str) -> None:
    client_id = fresh_id("TzPinned")
    first = take_turn(pg_url, client_id, naive=False, env=ZONES[0])
    second = take_turn(pg_url, client_id, naive=False, env=ZONES[1])
    assert first == {"admitted": True, "zone": "UTC"}
    assert second == {"admitted": False, "zone": "UTC"}


def test_processes_in_different_time_zones_stay_within_budget(
    api: MockServer, pg_url: str
) -> None:
    client_id = fresh_id("TzTraffic")
    statuses = run_workers(api, client_id, pg_url, [*ZONES, *ZONES])
    assert statuses == [200] * 4 * CALLS_PER_WORKER
    assert_within_budget(api, client_id, 4 * CALLS_PER_WORKER)


# --- 4. one connection per process -------------------------------------------


def test_one_connection_per_process_for_many_client_ids(pg_url: str) -> None:
    app = f"mixoads-test-{uuid.uuid4().hex[:8]}"
    url = f"{pg_url}?application_name={app}"
    logger = logging.getLogger("test")

    def connections() -> int:
        with psycopg.connect(pg_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                (app,),
            ).fetchone()
        assert row is not None
        return int(row[0])

    pacers: list[RequestPacer] = [
        make_pacer(
            requests_per_minute=6000,
            client_id=fresh_id(f"Conn{i}"),
            shared_budget_url=url,
            logger=logger,
        )
        for i in range(3)
    ]
    try:
        take_turns(pacers * 3)
        assert connections() == 1
        with open_store(url) as store:  # the same store, not a new connection
            with store.pool.connection() as conn:  # type: ignore[attr-defined]
                zone = conn.execute("SHOW TimeZone").fetchone()
            assert zone == ("UTC",)
        assert connections() == 1
    finally:
        for pacer in pacers:
            pacer.close()
    assert connections() == 0  # the last pacer closed the store


def test_old_turns_are_trimmed(tmp_path: Path, pg_url: str) -> None:
    """pyrate's leak (every 10 s) deletes turns older than the window."""
    logger = logging.getLogger("test")
    for url in (pg_url, f"sqlite://{tmp_path}/trim.db"):
        pacer = make_pacer(
            requests_per_minute=60_000,
            client_id=fresh_id("Trim"),
            shared_budget_url=url,
            logger=logger,
        )
        try:
            bucket: Any = pacer._limiter.bucket_factory.bucket  # type: ignore[attr-defined]
            take_turns([pacer] * 5)
            # (pyrate's leak thread may already have run once, at start)
            assert 1 <= bucket.count() <= 5
            bucket.leak(bucket.now())
            assert bucket.count() <= 1
        finally:
            pacer.close()


# --- 5. unreachable store -----------------------------------------------------


def assert_one_line_error(err: ConfigError, *, secret: str | None = None) -> str:
    message = str(err)
    assert "\n" not in message
    assert f"setting '{SETTING}'" in message
    if secret:
        assert secret not in message
    return message


def test_closed_port_stops_before_any_call() -> None:
    port = free_port()
    url = f"postgresql://budget:Sup3rS3cret@127.0.0.1:{port}/budgets"
    with pytest.raises(ConfigError) as info:
        make_pacer(
            requests_per_minute=60,
            client_id="any",
            shared_budget_url=url,
            logger=logging.getLogger("test"),
        )
    message = assert_one_line_error(info.value, secret="Sup3rS3cret")
    assert f"cannot reach postgresql://budget@127.0.0.1:{port}/budgets" in message
    assert "(connection refused)" in message


def test_bad_sqlite_directory_stops_before_any_call(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(ConfigError) as info:
        make_pacer(
            requests_per_minute=60,
            client_id="any",
            shared_budget_url=f"sqlite://{missing}/b.db",
            logger=logging.getLogger("test"),
        )
    assert str(missing) in assert_one_line_error(info.value)
    assert not missing.exists()  # not created behind the user's back


def test_unsupported_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        open_store("redis://:hunter22@localhost:6379/0")
    assert_one_line_error(info.value, secret="hunter22")


def test_none_or_blank_url_paces_in_process() -> None:
    for url in (None, "", "  "):
        pacer = make_pacer(
            requests_per_minute=60,
            client_id="c",
            shared_budget_url=url,
            logger=logging.getLogger("test"),
        )
        assert pacer._limiter.bucket_factory.bucket.__class__.__name__ == (  # type: ignore[attr-defined]
            "InMemoryBucket"
        )
        pacer.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p%40ss@h:5432/db", "postgresql://u@h:5432/db"),
        ("postgres://u:pw@h/db?sslmode=require", "postgres://u@h/db?sslmode=require"),
        (
            "postgresql://u@h/db?password=pw&sslmode=disable",
            "postgresql://u@h/db?sslmode=disable",
        ),
        ("postgresql://:pw@[::1]:5433/db", "postgresql://[::1]:5433/db"),
        ("sqlite:///var/lib/budget.db", "sqlite:///var/lib/budget.db"),
        ("host=h password=secret dbname=x", "host=h password=*** dbname=x"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected
