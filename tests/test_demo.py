"""``make demo`` on a server the user supplied: says where, hides the password."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from devtools.demo import SCHEMA, redact
from tests.helpers import REPO_ROOT
from tests.test_meltano import LOCK_PATH

pytestmark = pytest.mark.slow
PG_PASSWORD = "Demo-Pg-Pa55word"


def test_redact_hides_only_the_password():
    assert redact("postgresql://u:pw@h:5433/db") == "postgresql://u:***@h:5433/db"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"


def test_demo_never_prints_the_database_password(pg_url):
    # The test server trusts local connections: any password is accepted, so
    # one can be put in the URL to see whether the demo prints it.
    parts = urlsplit(pg_url)
    netloc = f"{parts.username}:{PG_PASSWORD}@{parts.hostname}:{parts.port}"
    url = urlunsplit(parts._replace(netloc=netloc))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MIXOADS_")}
    env["MIXOADS_POSTGRES_URL"] = url
    try:
        with LOCK_PATH.open("w") as lock:  # the demo runs meltano in the project
            fcntl.flock(lock, fcntl.LOCK_EX)
            proc = subprocess.run(
                [sys.executable, "-m", "devtools.demo"],
                capture_output=True,
                text=True,
                cwd=REPO_ROOT,
                env=env,
                timeout=600,
                check=False,
            )
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert PG_PASSWORD not in output
    assert PG_PASSWORD not in (REPO_ROOT / ".run" / "demo-meltano.log").read_text()
    assert f"PostgreSQL at {redact(url)}" in output
    assert f"writing into schema '{SCHEMA}' on that server" in output
    assert stat.S_IMODE((REPO_ROOT / ".meltano").stat().st_mode) == 0o700
