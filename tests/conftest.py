"""Fixtures: a real mock API server per test (or module), on a free port.

The servers run in-process (``InProcessMockServer``: real sockets, an event
loop in a background thread); a test that needs the mock to be a process of
its own starts ``mock_api.testing.MockServer`` itself.

Also isolates the run from the user's own Meltano state: every ``meltano``
the tests start (they inherit this process's environment) keeps its system
database, so its state entries, in a temp file, never in the project's
``.meltano/meltano.db``. (The user's ``.env`` is kept out by
``tests.helpers.MELTANO_ISOLATION``.)

And each pytest process gets its own Meltano system directory
(``MELTANO_SYS_DIR_ROOT``): Meltano writes every invocation's config,
catalog and state files to fixed paths under ``<sys dir>/run/<plugin>/``,
so two invocations sharing a sys dir must never overlap. With one per
process, xdist workers run Meltano side by side; the installed plugins
(the venvs ``make install`` built under ``.meltano/extractors`` and
``.meltano/loaders``) are linked in, not copied.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from devtools.pg import postgres_from_env_or_private, target_postgres_config
from mock_api.testing import InProcessMockServer, MockServer
from tests.helpers import close_tap_fork_server, shadow_plugin_venv

# Set beside MELTANO_DATABASE_URI when this file chose it, so an xdist worker
# (which inherits the controller's environment) can tell ours from a caller's.
_OWN_DB_MARK = "MIXOADS_TESTS_OWN_MELTANO_DB"
_OWN_SYS_DIR_MARK = "MIXOADS_TESTS_OWN_MELTANO_SYS_DIR"
_REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Point Meltano's system database and system dir at temp ones.

    One per pytest process, xdist workers included: Meltano refuses to start
    a pipeline while another one with the same state id (``dev:tap-mixoads-
    to-target-postgres``, say, from the demo test and a fresh project's test)
    is marked running in the same system database; and two invocations of
    one plugin must not share ``<sys dir>/run/<plugin>/``.
    """
    _private_system_database(config)
    _private_system_dir(config)


def _private_system_database(config: pytest.Config) -> None:
    if "MELTANO_DATABASE_URI" in os.environ and not os.environ.get(_OWN_DB_MARK):
        return  # a caller chose one
    state_dir = tempfile.mkdtemp(prefix="tap-mixoads-meltano-db-")
    os.environ["MELTANO_DATABASE_URI"] = f"sqlite:///{state_dir}/meltano.db"
    os.environ[_OWN_DB_MARK] = "1"
    config.add_cleanup(lambda: shutil.rmtree(state_dir, ignore_errors=True))


def _private_system_dir(config: pytest.Config) -> None:
    if "MELTANO_SYS_DIR_ROOT" in os.environ and not os.environ.get(_OWN_SYS_DIR_MARK):
        return  # a caller chose one (then tests.test_meltano.LOCK_PATH is in it)
    sys_dir = Path(tempfile.mkdtemp(prefix="tap-mixoads-meltano-sys-"))
    # Each plugin's venv is shadowed (links into it, its command forked), not
    # its type folder linked: an install into this sys dir (a fresh project
    # must never get it, see test_plugin_definition) then replaces links,
    # never the project's venv.
    for venv in (_REPO_ROOT / ".meltano").glob("*/*/venv"):
        if venv.parent.parent.name in ("extractors", "loaders"):
            plugin_dir = sys_dir / venv.parent.relative_to(_REPO_ROOT / ".meltano")
            plugin_dir.mkdir(parents=True)
            shadow_plugin_venv(venv, plugin_dir / "venv")
    os.environ["MELTANO_SYS_DIR_ROOT"] = str(sys_dir)
    os.environ[_OWN_SYS_DIR_MARK] = "1"
    config.add_cleanup(lambda: shutil.rmtree(sys_dir, ignore_errors=True))


#: Tests that take tens of seconds of wall time (mostly waiting: rate
#: windows, backoffs, timeouts, Meltano), by node id prefix, longest first.
#: Only a scheduling hint: started first, they overlap everything else under
#: pytest-xdist instead of running alone at the end. A renamed test merely
#: loses its head start.
LONG_RUNNING = (
    "tests/test_chaos.py::test_chaos_pipeline_loads_every_campaign_once[seed202",
    "tests/test_faults.py::test_token_endpoint_failing_transiently_is_retried",
    "tests/test_retries.py::test_all_campaigns_survive_503s_and_held_open",
    "tests/test_secrets.py::test_tap_stdout_at_debug_leaks_nothing",
    "tests/test_secrets.py::test_pipeline_through_every_failure_path",
    "tests/test_secrets.py::test_meltano_run_at_debug_leaks_nothing",
    "tests/test_accounts.py::test_processes_sharing_a_client_id_share",
    "tests/test_demo.py::test_demo_never_prints_the_database_password",
    "tests/test_meltano.py::test_meltano_run_loads_every_campaign_once",
    "tests/test_meltano_shards.py::",
    "tests/test_postgres_e2e.py::test_all_campaigns_land_once",
    "tests/test_ratelimit.py::test_vendor_shaped_run",
    "tests/test_dagster.py::test_two_shards_load_each_account_once",
    "tests/test_plugin_definition.py::test_a_fresh_project",
    "tests/test_deadlines.py::test_two_runs_sharing_a_client_id_both_finish",
    "tests/test_dagster.py::",
    "tests/test_accounts.py::",
    "tests/test_chaos.py::",
    "tests/test_ratelimit.py::",
    "tests/test_sync_ledger.py::",
    "tests/test_meltano.py::test_meltano_state_carries",
    "tests/test_secrets.py::test_failed_runs_leak_nothing",
    "tests/test_process_faults.py::",
    "tests/test_database_faults.py::",
    "tests/test_state_validation.py::test_read_only_and_failed_runs",
    "tests/test_run_report.py::",
    "tests/test_faults.py::",
)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop the tap fork server (tests.helpers.run_tap) before the process ends."""
    close_tap_fork_server()


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Run the long tests first (stable: the rest keep their order)."""
    _xdist_group_ids(config, items)

    def rank(item: pytest.Item) -> int:
        for i, prefix in enumerate(LONG_RUNNING):
            if item.nodeid.startswith(prefix):
                return i
        return len(LONG_RUNNING)

    items.sort(key=rank)


def _xdist_group_ids(config: pytest.Config, items: list[pytest.Item]) -> None:
    """What ``--dist loadgroup`` needs on pytest 9: ``<nodeid>@<group>`` ids.

    pytest-xdist 3.8 appends the ``xdist_group`` name to ``item._nodeid``, an
    attribute pytest 9 no longer reads (``nodeid`` comes from ``item._id``),
    so every test went to the scheduler as a group of its own. This runs
    after xdist's hook in each worker and does the same through ``_id``.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        names = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        if names and "@" not in item.nodeid.rpartition("]")[2]:
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(sorted(names))}")


@pytest.fixture
def mock_api() -> Iterator[Callable[..., MockServer]]:
    """Factory: ``mock_api(profile, **knobs)`` starts a server for this test."""
    servers: list[MockServer] = []

    def start(profile: str = "calm", **knobs: Any) -> MockServer:
        knobs.setdefault("seed", 1234)
        server = InProcessMockServer(profile=profile, **knobs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def calm_api() -> Iterator[MockServer]:
    """One calm server shared by a module's read-only tests (reset per test)."""
    with InProcessMockServer(profile="calm", seed=1) as server:
        yield server


@pytest.fixture
def calm(calm_api: MockServer) -> MockServer:
    calm_api.reset()
    return calm_api


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL: ``$MIXOADS_POSTGRES_URL``, else a private server."""
    with postgres_from_env_or_private(tmp_path_factory.mktemp("pgdata")) as url:
        yield url


_schema_numbers = itertools.count(1)


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A fresh schema per test (so tests never see each other's rows)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    schema = f"t_{worker}_{os.getpid()}_{next(_schema_numbers)}"
    yield schema
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def target_config(pg_url: str, pg_schema: str) -> dict[str, Any]:
    """target-postgres config loading into this test's schema."""
    return target_postgres_config(pg_url, pg_schema)


def query(pg_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Run one query and return all rows."""
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def meltano_pg_uri(pg_url: str) -> Iterator[str]:
    """A fresh database for Meltano's system tables (driver: psycopg 3)."""
    name = f"meltano_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(pg_url)
    yield urlunsplit(parts._replace(scheme="postgresql+psycopg", path=f"/{name}"))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
