"""``sync_mode: changed`` and ``removed_at``, against the mock and real target-postgres.

Five runs over two accounts (the issue's scenario): all synced; nothing
changed (only list calls); one budget changed in each account (2 syncs);
account A's last 10 campaigns deleted with B not in the run (exactly A's
10 rows marked, every other column kept, B untouched); and them back
(marks cleared).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from mock_api.accounts import account_client_id
from tests.conftest import query
from tests.helpers import mock_accounts, run_pipeline, run_tap, tap_config

pytestmark = pytest.mark.slow

A, B = account_client_id(1), account_client_id(2)
CAMPAIGNS = 100
PAGE_SIZE = 10


def _accounts(state: dict[str, Any] | None) -> dict[str, Any]:
    assert state is not None
    return state["bookmarks"]["campaigns"]["accounts"]


def test_changed_syncs_only_what_changed_and_marks_what_was_deleted(
    mock_api, pg_url, pg_schema, target_config
):
    # No seed: the fixture's fixed seed restarts on every reset(), so two runs
    # that ask in the same order would get the same "new" metrics.
    server = mock_api("calm", campaigns=CAMPAIGNS, accounts=2, sync_delay=0, seed=None)
    both = tap_config(
        server.url,
        accounts=mock_accounts(1, 2),
        page_size=PAGE_SIZE,
        sync_mode="changed",
    )
    only_a = {**both, "accounts": mock_accounts(1)}
    table = f'"{pg_schema}".campaigns'

    def rows() -> dict[tuple[str, str], tuple[Any, ...]]:
        found = query(
            pg_url,
            f"select client_id, id, name, budget, impressions, sync_status, "
            f"synced_at, removed_at, clicks from {table}",
        )
        return {(r[0], r[1]): r[2:] for r in found}

    def run(config: dict[str, Any], state: dict[str, Any] | None) -> Any:
        server.reset()
        result = run_pipeline(config, target_config, state=state, timeout=240)
        assert result.tap_returncode == 0, result.tap_stderr[-3000:]
        assert result.target_returncode == 0, result.target_stderr[-3000:]
        return result

    def calls() -> tuple[int, int]:
        stats = server.stats()
        return (
            stats["requests"].get("GET /api/campaigns", 0),
            sum(stats["sync_calls"].values()),
        )

    # Run 1: no state, so every campaign of both accounts is synced.
    first = run(both, None)
    list_calls, sync_calls = calls()
    assert sync_calls == 2 * CAMPAIGNS
    one = rows()
    assert len(one) == 2 * CAMPAIGNS
    assert {r[3] for r in one.values()} == {"success"}
    assert {r[5] is None for r in one.values()} == {True}  # removed_at
    # The state stays compact: at most 40 bytes per campaign, ledger included.
    state_bytes = len(json.dumps(first.final_state, separators=(",", ":")))
    assert state_bytes <= 40 * 2 * CAMPAIGNS, state_bytes

    # Run 2: nothing changed but the metrics (new on every call): no sync.
    second = run(both, first.final_state)
    assert calls() == (list_calls, 0)
    two = rows()
    assert sum(two[k][2] != one[k][2] for k in one) >= 10  # impressions moved
    # Unchanged campaigns keep the outcome they had.
    assert {k: v[3:5] for k, v in two.items()} == {k: v[3:5] for k, v in one.items()}

    # Run 3: one budget (and name) changed in each account: exactly 2 syncs.
    server.configure(edited_campaigns=["1:campaign_5", "2:campaign_9"])
    third = run(both, second.final_state)
    assert server.stats()["sync_calls"] == {"campaign_5": 1, "campaign_9": 1}
    three = rows()
    assert three[A, "campaign_5"][1] == one[A, "campaign_5"][1] + 1
    assert three[A, "campaign_5"][4] > one[A, "campaign_5"][4]  # synced again

    # Run 4: A's last 10 campaigns deleted; B is not in the run.
    gone = [f"campaign_{i}" for i in range(CAMPAIGNS - 9, CAMPAIGNS + 1)]
    server.configure(deleted_campaigns=[f"1:{cid}" for cid in gone])
    fourth = run(only_a, third.final_state)
    assert calls()[1] == 0  # a removed campaign is not synced
    four = rows()
    marked = {k for k, v in four.items() if v[5] is not None}
    assert marked == {(A, cid) for cid in gone}
    for key in marked:  # name, settings, metrics and outcome are intact
        assert four[key][:5] == three[key][:5], key
        assert four[key][6] == three[key][6], key
    for key, value in three.items():  # B: not touched (metrics change per call)
        if key[0] == B:
            assert four[key] == value, key
    assert set(_accounts(fourth.final_state)[A]["removed"]) == set(gone)
    assert "removed" not in _accounts(fourth.final_state)[B]

    # A run with them still gone does not mark them again.
    repeat = run(only_a, fourth.final_state)
    assert run_marks(repeat) == 0
    assert {k for k, v in rows().items() if v[5] is not None} == marked

    # Run 5: they are back: removed_at is null again, and as their settings
    # did not change they are not synced.
    server.configure(deleted_campaigns=[])
    fifth = run(only_a, repeat.final_state)
    assert calls()[1] == 0
    five = rows()
    assert all(v[5] is None for v in five.values())
    assert all(five[key][3] == "success" for key in marked)
    assert "removed" not in _accounts(fifth.final_state)[A]


def run_marks(result: Any) -> int:
    """How many campaigns the run's tap said it marked removed."""
    for line in result.tap_stderr.splitlines():
        if "Marked " in line and "campaigns removed" in line:
            return int(line.split("Marked ")[1].split()[0])
    return 0


def _state_file(tmp: str, accounts: dict[str, Any]) -> str:
    path = Path(tmp, "state.json")
    path.write_text(json.dumps({"bookmarks": {"campaigns": {"accounts": accounts}}}))
    return str(path)


def test_a_short_listing_marks_nothing_removed(mock_api):
    server = mock_api(
        "calm", campaigns=30, sync_delay=0, page_fault="empty_after", page_fault_page=2
    )
    known = {f"campaign_{i}": f"fp{i},,0" for i in range(1, 31)}
    known["gone_1"] = "fp,,0"
    with tempfile.TemporaryDirectory() as tmp:
        run = run_tap(
            tap_config(server.url, page_size=10, max_retries=2, sync_mode="changed"),
            "--state",
            _state_file(tmp, {"tap-mixoads": {"ledger": {}, "synced": known}}),
        )
    assert run.returncode == 1
    assert not [r for r in run.records if r.get("removed_at")]
    final = [m for m in run.messages if m["type"] == "STATE"][-1]["value"]
    kept = final["bookmarks"]["campaigns"]["accounts"]["tap-mixoads"]
    assert "removed" not in kept and "gone_1" in kept["synced"]


def test_a_removal_record_carries_only_the_key_and_removed_at(mock_api):
    """The narrow SCHEMA comes once, after the campaigns, then the marks."""
    server = mock_api("calm", campaigns=5, sync_delay=0)
    known = {f"campaign_{i}": f"fp{i},,0" for i in range(1, 8)}
    with tempfile.TemporaryDirectory() as tmp:
        run = run_tap(
            tap_config(server.url, page_size=10, sync_mode="changed"),
            "--state",
            _state_file(tmp, {"tap-mixoads": {"ledger": {}, "synced": known}}),
        )
    assert run.returncode == 0, run.stderr[-3000:]
    campaigns = [m for m in run.messages if m.get("stream") == "campaigns"]
    schemas = [i for i, m in enumerate(campaigns) if m["type"] == "SCHEMA"]
    assert len(schemas) == 2
    narrow = campaigns[schemas[1]]
    assert set(narrow["schema"]["properties"]) == {"client_id", "id", "removed_at"}
    assert narrow["key_properties"] == ["client_id", "id"]
    marks = [m["record"] for m in campaigns[schemas[1] + 1 :] if m["type"] == "RECORD"]
    assert sorted(m["id"] for m in marks) == ["campaign_6", "campaign_7"]
    assert all(set(m) == {"client_id", "id", "removed_at"} for m in marks)
    assert all(m["removed_at"] for m in marks)
    full = [m["record"] for m in campaigns[: schemas[1]] if m["type"] == "RECORD"]
    assert len(full) == 5 and all(r["removed_at"] is None for r in full)
    # Their stored fingerprints are not these settings': all 5 synced.
    assert set(server.stats()["sync_calls"]) == {f"campaign_{i}" for i in range(1, 6)}


def test_sync_change_fields_decides_what_is_a_change(mock_api):
    server = mock_api("calm", campaigns=10, sync_delay=0)
    config = tap_config(
        server.url, page_size=100, sync_mode="changed", sync_change_fields=["status"]
    )
    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-3000:]
    state = [m for m in first.messages if m["type"] == "STATE"][-1]["value"]
    server.reset()
    server.configure(edited_campaigns=["1:campaign_3"])  # budget and name only
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "state.json")
        path.write_text(json.dumps(state))
        second = run_tap(config, "--state", str(path))
        assert second.returncode == 0, second.stderr[-3000:]
        assert server.stats()["sync_calls"] == {}
        server.reset()
        # The same edit under the default fields (name, status, budget) counts.
        third = run_tap(
            {**config, "sync_change_fields": ["name", "status", "budget"]},
            "--state",
            str(path),
        )
    assert third.returncode == 0, third.stderr[-3000:]
    # The fingerprints of the first run were of "status" alone: every
    # campaign looks changed under other fields, so all are synced once.
    assert len(server.stats()["sync_calls"]) == 10


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        (["impressions"], "metrics change on every call"),
        (["created_at", "name"], "created_at"),
        (["colour"], "not a field of the campaigns stream"),
        ([], "sync_change_fields is empty"),
    ],
)
def test_bad_sync_change_fields_are_one_line(calm, fields, says):
    run = run_tap(tap_config(calm.url, sync_mode="changed", sync_change_fields=fields))
    assert run.returncode == 1
    errors = [x for x in run.stderr.splitlines() if "tap-mixoads: error:" in x]
    assert len(errors) == 1 and says in errors[0], run.stderr[-2000:]
    assert "sync_change_fields" in errors[0]
    assert "Traceback" not in run.stderr
    assert calm.stats()["requests"].get("GET /api/campaigns", 0) == 0


def _load(target_config: dict[str, Any], messages: list[dict[str, Any]]) -> None:
    """Pipe ``messages`` into the real target-postgres."""
    import subprocess

    from tests.helpers import loader_command

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "target.json")
        path.write_text(json.dumps(target_config))
        proc = subprocess.run(
            [*loader_command(), "--config", str(path)],
            input="".join(json.dumps(m) + "\n" for m in messages),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("narrow", [True, False], ids=["narrow-schema", "control"])
def test_only_a_narrow_schema_keeps_the_other_columns(
    pg_url, pg_schema, target_config, narrow
):
    """Why removals go out under their own SCHEMA: the control nulls the row."""
    string = {"type": ["string", "null"]}
    full = {
        "type": "object",
        "properties": {
            "client_id": {"type": "string"},
            "id": {"type": "string"},
            "name": string,
            "removed_at": {**string, "format": "date-time"},
        },
    }
    keys = ["client_id", "id"]
    row = {"client_id": "a", "id": "c1", "name": "Campaign 1", "removed_at": None}
    mark = {"client_id": "a", "id": "c1", "removed_at": "2026-12-05T00:00:00+00:00"}
    schema = full
    if narrow:
        schema = {**full, "properties": {k: full["properties"][k] for k in mark}}
    _load(
        target_config,
        [
            {
                "type": "SCHEMA",
                "stream": "campaigns",
                "schema": full,
                "key_properties": keys,
            },
            {"type": "RECORD", "stream": "campaigns", "record": row},
            {
                "type": "SCHEMA",
                "stream": "campaigns",
                "schema": schema,
                "key_properties": keys,
            },
            {"type": "RECORD", "stream": "campaigns", "record": mark},
        ],
    )
    ((name, removed_at),) = query(
        pg_url, f'select name, removed_at from "{pg_schema}".campaigns'
    )
    assert removed_at is not None
    if narrow:
        assert name == "Campaign 1"
    else:  # the stock loader updates every column of the SCHEMA it was given
        assert name is None
