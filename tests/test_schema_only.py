"""``schema_only``: the tables' SCHEMA, nothing else, and not one API call.

Parallel shards that load the same tables need them created first by one
process: target-postgres checks for a table and then runs ``CREATE TABLE``,
so two first loads at once can fail on Postgres' ``pg_type`` index.
"""

from __future__ import annotations

import json

from singer_sdk.singerlib import Catalog

from tests.conftest import query
from tests.helpers import run_pipeline, run_tap, tap_config


def test_schema_only_writes_each_selected_schema_and_calls_nothing(calm):
    before = calm.stats()["requests"]
    run = run_tap(tap_config(calm.url, schema_only=True))
    assert run.returncode == 0, run.stderr
    schemas = [m for m in run.messages if m["type"] == "SCHEMA"]
    assert [m["stream"] for m in schemas] == ["campaigns", "sync_events", "sync_runs"]
    assert schemas[0]["key_properties"] == ["client_id", "id"]
    assert {m["type"] for m in run.messages} == {"SCHEMA", "STATE"}
    assert calm.stats()["requests"] == before  # not one API call
    assert "schema_only: writing the selected streams' SCHEMA only" in run.stderr


def test_schema_only_passes_the_state_on_unchanged(calm, tmp_path):
    state = {"bookmarks": {"campaigns": {"accounts": {"c1": {"sync": {"x": 1}}}}}}
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(state))
    run = run_tap(tap_config(calm.url, schema_only=True), "--state", str(state_file))
    assert run.returncode == 0, run.stderr
    states = [m["value"] for m in run.messages if m["type"] == "STATE"]
    assert states, run.stdout
    assert states[-1]["bookmarks"]["campaigns"] == state["bookmarks"]["campaigns"]


def test_schema_only_needs_no_credentials(calm):
    """The tables job of meltano.yml needs no account: it makes no API call."""
    config = tap_config(calm.url, schema_only=True)
    del config["email"], config["password"]
    run = run_tap(config)
    assert run.returncode == 0, run.stderr
    assert [m["type"] for m in run.messages].count("SCHEMA") == 3
    # Without schema_only the same config is refused in one line.
    refused = run_tap({**config, "schema_only": False})
    assert refused.returncode != 0
    assert "setting 'email' is required" in refused.stderr


def test_schema_only_respects_the_catalog_selection(calm, tmp_path):
    discovered = run_tap(tap_config(calm.url), "--discover", timeout=60)
    assert discovered.returncode == 0, discovered.stderr
    catalog = Catalog.from_dict(json.loads(discovered.stdout))
    for entry in catalog.streams:
        selected = entry.tap_stream_id == "campaigns"
        entry.metadata.root.selected = selected
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps(catalog.to_dict()))
    run = run_tap(
        tap_config(calm.url, schema_only=True), "--catalog", str(catalog_file)
    )
    assert run.returncode == 0, run.stderr
    schemas = [m["stream"] for m in run.messages if m["type"] == "SCHEMA"]
    assert schemas == ["campaigns"]
    assert not [m for m in run.messages if m["type"] == "RECORD"]


def test_schema_only_run_creates_the_tables_in_postgres(calm, target_config, pg_url):
    run = run_pipeline(tap_config(calm.url, schema_only=True), target_config)
    assert run.tap_returncode == 0, run.tap_stderr[-3000:]
    assert run.target_returncode == 0, run.target_stderr[-3000:]
    schema = target_config["default_target_schema"]
    tables = query(
        pg_url,
        "select table_name from information_schema.tables "
        f"where table_schema = '{schema}' order by table_name",
    )
    assert tables == [("campaigns",), ("sync_events",), ("sync_runs",)]
    assert query(pg_url, f'select count(*) from "{schema}".campaigns') == [(0,)]


def _catalog_selecting(calm, tmp_path, names: set[str]) -> str:
    discovered = run_tap(tap_config(calm.url), "--discover", timeout=60)
    assert discovered.returncode == 0, discovered.stderr
    catalog = Catalog.from_dict(json.loads(discovered.stdout))
    for entry in catalog.streams:
        entry.metadata.root.selected = entry.tap_stream_id in names
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps(catalog.to_dict()))
    return str(catalog_file)


def test_selecting_sync_events_without_campaigns_is_one_line_not_silence(
    calm, tmp_path
):
    catalog = _catalog_selecting(calm, tmp_path, {"sync_events"})
    run = run_tap(tap_config(calm.url, page_size=100), "--catalog", catalog)
    assert run.returncode == 1
    errors = [x for x in run.stderr.splitlines() if "tap-mixoads: error:" in x]
    assert len(errors) == 1, run.stderr[-2000:]
    assert "selects sync_events but not campaigns" in errors[0]
    assert "Traceback" not in run.stderr
    assert calm.stats()["requests"].get("GET /api/campaigns", 0) == 0


def test_sync_events_alone_through_a_null_campaigns_map(calm, tmp_path):
    """The way the line points to: campaigns run, none of its rows load."""
    catalog = _catalog_selecting(calm, tmp_path, {"campaigns", "sync_events"})
    config = tap_config(calm.url, page_size=100, stream_maps={"campaigns": None})
    run = run_tap(config, "--catalog", catalog)
    assert run.returncode == 0, run.stderr[-3000:]
    streams = {m["stream"] for m in run.messages if m["type"] in ("SCHEMA", "RECORD")}
    assert streams == {"sync_events"}
    assert len(run.stream_records("sync_events")) == 100
