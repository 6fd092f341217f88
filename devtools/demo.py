"""End-to-end demo: mock API -> tap-mixoads -> target-postgres, via Meltano.

Starts a private PostgreSQL in ``.run/pgdata`` (wiped each run; or uses
``$MIXOADS_POSTGRES_URL``), the mock API with the ``fast`` profile on a free
port, runs ``meltano run tap-mixoads target-postgres``, then reads the table
back and prints what the mock saw. Exits non-zero unless exactly 100 distinct
campaigns landed. Everything it started is stopped on exit, Ctrl-C included.

Run with ``make demo`` (or ``.venv/bin/python -m devtools.demo``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from devtools.pg import LocalPostgres, postgres_from_env_or_private, target_postgres_env

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"
PG_DIR = RUN_DIR / "pgdata"
MELTANO_LOG = RUN_DIR / "demo-meltano.log"
SCHEMA = "mixoads"
TABLE = "campaigns"
EXPECTED_CAMPAIGNS = 100
RUN_TIMEOUT_S = 600

# The fast profile allows 10 calls per 3 s window, i.e. 200 a minute.
TAP_ENV = {
    "TAP_MIXOADS_REQUESTS_PER_MINUTE": "200",
    "TAP_MIXOADS_REQUEST_TIMEOUT": "2",
}


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def redact(url: str) -> str:
    """``url`` with its password (if any) replaced: safe to print or log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def private_meltano_dir() -> None:
    """Keep .meltano readable by the user only.

    Meltano writes each run's config, password included, to
    .meltano/run/<plugin>/*.config.json with mode 0644, and a killed Meltano
    leaves it there.
    """
    folder = ROOT / ".meltano"
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)


def credentials() -> dict[str, str]:
    """Demo credentials from ``.env`` if present, else ``.env.example``."""
    from dotenv import dotenv_values

    source = ROOT / ".env" if (ROOT / ".env").exists() else ROOT / ".env.example"
    values = dotenv_values(source)
    creds = {
        key: values.get(key) or ""
        for key in ("TAP_MIXOADS_EMAIL", "TAP_MIXOADS_PASSWORD")
    }
    missing = [key for key, value in creds.items() if not value]
    if missing:
        raise SystemExit(f"[demo] {', '.join(missing)} not set in {source.name}")
    say(f"credentials from {source.name}")
    return creds


def wipe_private_pgdata() -> None:
    if os.environ.get("MIXOADS_POSTGRES_URL", "").strip():
        return
    if PG_DIR.exists():
        LocalPostgres(PG_DIR).stop()  # a server left by an interrupted run
        shutil.rmtree(PG_DIR)


def run_meltano(env: dict[str, str]) -> int:
    """Run the pipeline in its own process group, logging to a file."""
    cmd = [
        str(ROOT / ".venv" / "bin" / "meltano"),
        "run",
        "--full-refresh",  # the database was just wiped: ignore saved state
        "tap-mixoads",
        "target-postgres",
    ]
    with MELTANO_LOG.open("w") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            return proc.wait(timeout=RUN_TIMEOUT_S)
        except BaseException:
            _stop_group(proc)
            raise


def _stop_group(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


def read_back(url: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as conn:
        rows, distinct = conn.execute(
            f'SELECT count(*), count(DISTINCT id) FROM "{SCHEMA}"."{TABLE}"'
        ).fetchone() or (0, 0)
        has_status = conn.execute(
            "SELECT 1 FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s AND column_name = %s",
            (SCHEMA, TABLE, "sync_status"),
        ).fetchone()
        synced = None
        if has_status:
            row = conn.execute(
                f'SELECT count(*) FROM "{SCHEMA}"."{TABLE}"'
                " WHERE sync_status = 'success'"
            ).fetchone()
            synced = row[0] if row else 0
    return {"rows": rows, "distinct": distinct, "synced": synced}


def summarise_stats(stats: dict[str, Any]) -> str:
    requests = sum(stats.get("requests", {}).values())
    statuses = stats.get("statuses", {})
    too_many = stats.get("rate_limited", statuses.get("429", 0))
    faults = stats.get("faults", {})
    fault_text = ", ".join(f"{k}={v}" for k, v in sorted(faults.items())) or "none"
    return (
        f"mock saw {requests} requests, {too_many} answered 429, "
        f"faults injected: {fault_text}; tokens issued {stats.get('tokens_issued')}, "
        f"busiest window {stats.get('max_in_window')} calls, "
        f"max concurrent syncs {stats.get('max_concurrent_syncs')}"
    )


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def demo() -> int:
    from mock_api.testing import MockServer

    creds = credentials()
    private_meltano_dir()
    RUN_DIR.mkdir(mode=0o700, exist_ok=True)
    wipe_private_pgdata()
    supplied = bool(os.environ.get("MIXOADS_POSTGRES_URL", "").strip())
    say("starting PostgreSQL ..." if not supplied else "using MIXOADS_POSTGRES_URL")
    with postgres_from_env_or_private(PG_DIR) as pg_url:
        say(f"PostgreSQL at {redact(pg_url)}")
        if supplied:
            say(
                f"writing into schema {SCHEMA!r} on that server: table "
                f"{SCHEMA}.{TABLE} is created if missing and upserted on id"
            )
        say("starting the mock API (profile fast) ...")
        with MockServer(profile="fast") as mock:
            say(f"mock API at {mock.url}")
            env = {
                **os.environ,
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                **creds,
                **TAP_ENV,
                "TAP_MIXOADS_API_URL": mock.url,
                **target_postgres_env(pg_url, SCHEMA),
            }
            say(f"meltano run tap-mixoads target-postgres (log: {_rel(MELTANO_LOG)})")
            started = time.monotonic()
            code = run_meltano(env)
            elapsed = time.monotonic() - started
            stats = mock.stats()
        if code != 0:
            say(f"meltano run failed with exit code {code}; last lines of the log:")
            tail = MELTANO_LOG.read_text(errors="replace").splitlines()[-40:]
            print("\n".join(tail), flush=True)
            say(summarise_stats(stats))
            return code or 1
        result = read_back(pg_url)

    synced = (
        "n/a (no sync_status column)" if result["synced"] is None else result["synced"]
    )
    say(f"finished in {elapsed:.1f} s")
    say(
        f"{SCHEMA}.{TABLE}: {result['rows']} rows, {result['distinct']} distinct ids, "
        f"synced successfully: {synced}"
    )
    say(summarise_stats(stats))
    ok = (
        result["rows"] == EXPECTED_CAMPAIGNS
        and result["distinct"] == EXPECTED_CAMPAIGNS
    )
    say("OK" if ok else f"FAILED: expected {EXPECTED_CAMPAIGNS} rows and distinct ids")
    return 0 if ok else 1


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main() -> int:
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        return demo()
    except KeyboardInterrupt:
        say("interrupted; everything started was stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
