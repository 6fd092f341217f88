"""The private PostgreSQL server (devtools.pg) that the suite and demo load into."""

from __future__ import annotations

import psycopg
import pytest
import yaml

from devtools.pg import (
    POSTGRES_URL_ENV,
    TARGET_POSTGRES_LOADER_SETTINGS,
    LocalPostgres,
    postgres_from_env_or_private,
    target_postgres_config,
    target_postgres_env,
)
from tests.helpers import REPO_ROOT


def _count(url: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM t").fetchone()
    assert row is not None
    return int(row[0])


def test_start_restart_keeps_data_then_stop(tmp_path):
    server = LocalPostgres(tmp_path / "pg")
    with server:
        assert server.is_running()
        assert server.url == f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
            conn.execute("INSERT INTO t SELECT generate_series(1, 10)")
        port = server.port

        server.restart()
        assert server.is_running()
        assert server.port == port
        assert _count(server.url) == 10
    assert not server.is_running()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2
        )


def test_kill_then_start_recovers(tmp_path):
    server = LocalPostgres(tmp_path / "pg")
    with server:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id int)")
            conn.execute("INSERT INTO t VALUES (1), (2), (3)")
        server.kill()
        assert not server.is_running()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(server.url, connect_timeout=2)

        server.start()
        assert server.is_running()
        # fsync is off, but a process crash (not an OS crash) loses nothing.
        assert _count(server.url) == 3


def test_fixed_port_is_used(tmp_path):
    from devtools.pg import free_port

    port = free_port()
    with LocalPostgres(tmp_path / "pg", port=port) as server:
        assert server.port == port
        with psycopg.connect(server.url) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)


def test_env_url_wins_and_starts_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(
        POSTGRES_URL_ENV, "postgresql://u:p%40ss@db.example:6543/warehouse"
    )
    with postgres_from_env_or_private(tmp_path / "pg") as url:
        assert url == "postgresql://u:p%40ss@db.example:6543/warehouse"
    assert not (tmp_path / "pg").exists()


def test_private_server_when_env_unset(tmp_path, monkeypatch):
    monkeypatch.delenv(POSTGRES_URL_ENV, raising=False)
    with (
        postgres_from_env_or_private(tmp_path / "pg") as url,
        psycopg.connect(url) as conn,
    ):
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not LocalPostgres(tmp_path / "pg").is_running()


def test_target_postgres_env_and_config_parse_the_url():
    url = "postgresql://loader:p%40ss@db.example:6543/warehouse"
    assert target_postgres_env(url, "mixoads") == {
        "TARGET_POSTGRES_HOST": "db.example",
        "TARGET_POSTGRES_PORT": "6543",
        "TARGET_POSTGRES_USER": "loader",
        "TARGET_POSTGRES_PASSWORD": "p@ss",
        "TARGET_POSTGRES_DATABASE": "warehouse",
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": "mixoads",
    }
    config = target_postgres_config(
        "postgresql://postgres@127.0.0.1:5555/postgres", "s"
    )
    assert config["host"] == "127.0.0.1"
    assert config["port"] == 5555
    assert config["password"] == ""
    assert config["default_target_schema"] == "s"
    # add_record_metadata off requires activate_version off (target asserts it).
    assert config["add_record_metadata"] is False
    assert config["activate_version"] is False
    assert config["load_method"] == "upsert"


def test_meltano_yml_loader_settings_match_the_tests_and_benchmarks():
    """Tests and benchmarks load with the settings meltano.yml gives users."""
    project = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())
    loader = next(
        p for p in project["plugins"]["loaders"] if p["name"] == "target-postgres"
    )
    for key, value in TARGET_POSTGRES_LOADER_SETTINGS.items():
        assert loader["config"].get(key) == value, key
