"""The shared budget's store failing mid-run, and turns recorded in the future.

Real components throughout: a PostgreSQL server of the test's own (stopped or
frozen with SIGSTOP while the tap runs, so the session's server is not
harmed), the session's server (``pg_url``) and SQLite files for tampering,
the real mock API and the real tap process. The store's bound is shortened
to a few seconds through ``MIXOADS_STORE_TIMEOUT_SECONDS`` (30 s by default).

Control, measured by hand on the code before the bound (one tap, 120
calls/min, ``shared_budget_url`` on a private server stopped with ``pg_ctl
stop -m fast`` 6 s into the run): the tap was still running 200 s later
(two 30 s pool timeouts per turn, a traceback from pyrate-limiter's clock
each time); with the server frozen by SIGSTOP it was still running after 90 s
(no client-side bound at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from devtools.pg import LocalPostgres, free_port
from tap_mixoads.errors import BudgetStoreError, BudgetWaitTooLongError
from tap_mixoads.http.shared_budget import (
    STORE_TIMEOUT_ENV,
    make_pacer,
    open_store,
    table_name,
)
from tap_mixoads.sync.syncer import DEFERRED, CampaignSyncer
from tests.helpers import REPO_ROOT, run_tap, tap_config

#: The store's bound in these tests (seconds).
BOUND_S = 4
#: Slack on top of the bound for a busy machine (two CPU burners beside us).
SLACK_S = 40
PASSWORD = "Budg3tS3cret"
HOUR_MS = 3_600_000


def with_password(url: str) -> str:
    """``url`` with a password the tap must never print (trust auth ignores it)."""
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")


def fresh_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def own_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """A private server this test may stop or freeze."""
    server = LocalPostgres(tmp_path_factory.mktemp("budget_pg"), port=free_port())
    with server:
        yield server


def _family(server: LocalPostgres) -> list[psutil.Process]:
    pid = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _final_state(stdout: str) -> dict[str, Any]:
    states = [
        json.loads(line)["value"]
        for line in stdout.splitlines()
        if line.startswith("{") and json.loads(line).get("type") == "STATE"
    ]
    assert states, "no STATE message"
    return states[-1]


@pytest.mark.parametrize("death", ["stopped", "frozen"])
def test_store_dying_mid_run_fails_within_the_bound_and_defers(
    mock_api: Any, own_pg: LocalPostgres, tmp_path: Path, death: str
) -> None:
    """Postgres stopped (connections closed) or frozen (SIGSTOP: the kernel
    still acknowledges, only the client-side watchdog ends the wait).

    The run exits 1 within the bound, with one line naming
    ``shared_budget_url`` and no password; campaigns whose sync could not get
    a turn are ``deferred`` in the records and in the state's ledger, none is
    ``failed`` (so neither the breaker nor ``dead`` counts them).
    """
    server = mock_api("calm", sync_delay=0.05)
    url = with_password(own_pg.url)
    config = tap_config(server.url, requests_per_minute=300, shared_budget_url=url)
    (tmp_path / "config.json").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MIXOADS_")}
    env[STORE_TIMEOUT_ENV] = str(BOUND_S)
    out_path, err_path = tmp_path / "out", tmp_path / "err"
    with out_path.open("w") as out, err_path.open("w") as err:
        tap = subprocess.Popen(
            [sys.executable, "-m", "tap_mixoads", "--config", tmp_path / "config.json"],
            stdout=out,
            stderr=err,
            cwd=REPO_ROOT,
            env=env,
        )
    family: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
        while sum(server.stats()["sync_calls"].values()) < 5:
            assert tap.poll() is None, err_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "the run never started syncing"
            time.sleep(0.05)
        family = _family(own_pg)
        died = time.monotonic()
        if death == "stopped":
            own_pg.stop()
        else:
            for proc in family:
                proc.send_signal(signal.SIGSTOP)
        returncode = tap.wait(BOUND_S + SLACK_S)
        seconds = time.monotonic() - died
    finally:
        if tap.poll() is None:
            tap.kill()
            tap.wait()
        for proc in family:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGCONT)
    stderr = err_path.read_text()
    assert returncode == 1, stderr[-3000:]
    assert seconds < BOUND_S + SLACK_S
    assert PASSWORD not in stderr
    redacted = f"the shared budget at {own_pg.url} failed"
    lines = [line for line in stderr.splitlines() if redacted in line]
    assert lines, stderr[-3000:]
    assert all("setting 'shared_budget_url'" in line for line in lines)
    if death == "frozen":
        # The watchdog ("no answer") or a thread waiting for the connection
        # ("no connection"): whichever comes first on a busy machine.
        assert f" within {BOUND_S} s)" in lines[0], lines[0]
    assert "Traceback" not in stderr
    assert "tap-mixoads: error:" in stderr
    statuses = [
        r["record"]["sync_status"]
        for r in map(json.loads, out_path.read_text().splitlines())
        if r.get("type") == "RECORD" and r.get("stream") == "campaigns"
    ]
    assert "failed" not in statuses
    state = _final_state(out_path.read_text())["bookmarks"]["campaigns"]
    ledger = state["accounts"]["tap-mixoads"]["ledger"]
    assert ledger, "nothing was deferred: the store died after the run"
    assert {entry["status"] for entry in ledger.values()} == {DEFERRED}
    assert all(entry["runs"] == 0 for entry in ledger.values())
    print(f"FIGURES store {death}: exit {returncode} {seconds:.1f} s after")


def test_a_transaction_ended_on_a_frozen_server_fails_within_the_bound(
    own_pg: LocalPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit that ends a turn's transaction is bounded too.

    The pool would commit after the watchdog let go, and a frozen server
    never answers a commit: this hung a tap for good (once in seven runs of
    the test above under load) before the transaction ended under the guard.
    """
    monkeypatch.setenv(STORE_TIMEOUT_ENV, "2")
    store = open_store(own_pg.url)
    family = _family(own_pg)
    try:
        started = time.monotonic()
        with (
            pytest.raises(BudgetStoreError) as info,
            store.bounded.connection() as conn,  # type: ignore[attr-defined]
        ):
            conn.execute("SELECT 1")  # a transaction is open
            for proc in family:
                proc.send_signal(signal.SIGSTOP)
        seconds = time.monotonic() - started
    finally:
        for proc in family:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGCONT)
        store.release()
    assert seconds < 2 + SLACK_S
    assert "(no answer within 2 s)" in str(info.value)


# --- a turn recorded an hour in the future ----------------------------------


def _tamper_postgres(url: str, client_id: str) -> None:
    with open_store(url) as store:
        store.bucket(client_id=client_id, interval_ms=10).close()  # the table
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute(
            f'INSERT INTO "ratelimit___{table_name(client_id)}" '
            "(name, weight, item_timestamp) "
            "VALUES (%s, 1, LOCALTIMESTAMP + INTERVAL '1 hour')",
            (client_id,),
        )


def _tamper_sqlite(url: str, client_id: str) -> None:
    import sqlite3

    with open_store(url) as store:
        store.bucket(client_id=client_id, interval_ms=10).close()  # the table
    path = url.removeprefix("sqlite://")
    with sqlite3.connect(path) as conn:
        conn.execute(
            f"INSERT INTO '{table_name(client_id)}' (name, item_timestamp) "
            "VALUES (?, ?)",
            (client_id, int(time.time() * 1000) + HOUR_MS),
        )


@pytest.fixture(params=["postgres", "sqlite"])
def tampered(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """A store holding a turn an hour ahead for a fresh client id."""
    client_id = fresh_id("future")
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
        _tamper_postgres(url, client_id)
    else:
        url = f"sqlite://{tmp_path}/budget.db"
        _tamper_sqlite(url, client_id)
    return url, client_id


def test_control_a_turn_an_hour_ahead_is_an_hour_wait(
    tampered: tuple[str, str],
) -> None:
    """Without a cap the limiter would sleep what the store says: an hour."""
    url, client_id = tampered
    with open_store(url) as store:
        bucket = store.bucket(client_id=client_id, interval_ms=10)
    try:
        from pyrate_limiter import RateItem

        item = RateItem(client_id, bucket.now())
        assert bucket.put(item) is False
        assert bucket.waiting(item) > HOUR_MS - 60_000
    finally:
        bucket.close()


def test_a_turn_beyond_max_rate_limit_wait_stops_the_account(
    mock_api: Any, tampered: tuple[str, str]
) -> None:
    url, client_id = tampered
    server = mock_api("calm")
    config = tap_config(
        server.url,
        client_id=client_id,
        shared_budget_url=url,
        max_rate_limit_wait=60,
    )
    run = run_tap(config, timeout=120)
    assert run.returncode == 1, run.stderr[-3000:]
    assert run.seconds < 60  # not an hour
    assert server.client_stats(client_id)["requests"] == 0  # no API call
    lines = [line for line in run.stderr.splitlines() if "max_rate_limit_wait" in line]
    assert lines, run.stderr[-3000:]
    line = lines[0]
    assert f"client id '{client_id}'" in line
    assert "(setting 'shared_budget_url')" in line
    assert "max_rate_limit_wait (60 s)" in line
    wait = int(line.split(" s away")[0].rsplit(" ", 1)[1])
    assert 3500 <= wait <= 3600
    assert "Traceback" not in run.stderr


def test_pacer_wait_cap_raises_before_sleeping(tampered: tuple[str, str]) -> None:
    url, client_id = tampered
    pacer = make_pacer(
        requests_per_minute=600,
        client_id=client_id,
        shared_budget_url=url,
        logger=logging.getLogger("test"),
        max_rate_limit_wait=5,
    )
    started = time.monotonic()
    try:
        with pytest.raises(BudgetWaitTooLongError) as info:
            asyncio.run(pacer.turn())
    finally:
        pacer.close()
    assert time.monotonic() - started < 30  # raised, not slept
    assert "\n" not in str(info.value)


def test_a_wait_of_one_interval_is_never_capped() -> None:
    """A budget slower than max_rate_limit_wait still waits its own interval."""
    pacer = make_pacer(
        requests_per_minute=60_000 / 1500,  # a turn every ~1.5 s
        client_id="slow",
        shared_budget_url=None,
        logger=logging.getLogger("test"),
        max_rate_limit_wait=0.5,
    )

    async def two_turns() -> None:
        await pacer.turn()
        await pacer.turn()  # waits ~1.5 s, more than 0.5 s: the budget at work

    try:
        asyncio.run(two_turns())
    finally:
        pacer.close()


# --- SQLite: another process holds the lock file ------------------------------


def test_sqlite_lock_held_by_a_frozen_process_fails_within_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STORE_TIMEOUT_ENV, "2")
    url = f"sqlite://{tmp_path}/budget.db"
    pacer = make_pacer(
        requests_per_minute=600,
        client_id=fresh_id("lock"),
        shared_budget_url=url,
        logger=logging.getLogger("test"),
        max_rate_limit_wait=300,
    )
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from filelock import FileLock; "
            "lock = FileLock(sys.argv[1]); lock.acquire(); print('held', flush=True); "
            "time.sleep(120)",
            f"{tmp_path}/budget.db.lock",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(BudgetStoreError) as info:
            asyncio.run(pacer.turn())
        pacer.close()  # at exit: no second wait for the lock
        seconds = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
        pacer.close()
    assert seconds < 2 + SLACK_S  # the close included
    message = str(info.value)
    assert "setting 'shared_budget_url'" in message
    assert "held for more than 2 s" in message


# --- the sync hook: a budget failure is the account's, not the campaign's -----


@pytest.mark.parametrize(
    ("error", "stops"),
    [
        (
            BudgetStoreError("setting 'shared_budget_url': the shared budget failed"),
            True,
        ),
        # Control: any other failure is the campaign's own and counts.
        (RuntimeError("setting 'shared_budget_url': the shared budget failed"), False),
    ],
)
def test_a_budget_failure_defers_the_sync_and_stops_the_account(
    error: Exception, stops: bool
) -> None:
    calls: list[str] = []

    async def send(campaign_id: Any, on_attempt: Any) -> Any:
        calls.append(campaign_id)
        on_attempt()
        raise error

    syncer = CampaignSyncer(
        send=send,
        concurrency=1,
        logger=logging.getLogger("test"),
        breaker_threshold=1,
    )

    async def sync_three() -> list[Any]:
        return [await syncer.sync_one(f"campaign_{i}") for i in range(3)]

    outcomes = asyncio.run(sync_three())
    if not stops:
        assert outcomes[0].status == "failed"
        assert syncer.breaker_open is not None
        return
    assert [o.status for o in outcomes] == [DEFERRED] * 3
    assert len(calls) == 1  # stopped after the first
    assert syncer.failures == []
    assert syncer.breaker_open is None
    assert syncer.rate_limit_stop == (
        "setting 'shared_budget_url': the shared budget failed"
    )
