"""State from outside is validated; a read-only or targeted run erases nothing.

Issue "a hostile network and a hostile state", §5. On 0.x's code:

- a ``synced`` entry with a garbage ``synced_at`` went into a record that
  target-postgres rejected (0 rows loaded, tap exit 0);
- a truncated state file, or ``accounts`` a string, ended in tracebacks (and
  with ``accounts`` a string no final STATE was written);
- 2,000 ledger ids no longer listed were synced before any listed campaign;
- ``sync_mode: failed`` or ``none`` with no state wrote NULL over every row's
  sync outcome.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import query
from tests.helpers import REPO_ROOT, run_pipeline, run_tap, tap_config

SYNC = "POST /api/campaigns/{id}/sync"


def _state(accounts: object) -> dict[str, object]:
    return {"bookmarks": {"campaigns": {"accounts": accounts}}}


# --- the parser, in-process ---------------------------------------------------


# --- the tap process ------------------------------------------------------------


def _run_with_state_text(config: dict, text: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg, state = Path(tmp, "tap.json"), Path(tmp, "state.json")
        cfg.write_text(json.dumps(config))
        state.write_text(text)
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "tap_mixoads",
                "--config",
                str(cfg),
                "--state",
                str(state),
            ],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=120,
            check=False,
        )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"bookmarks": {"campaigns": {"accounts": {"a', "is not valid JSON"),
        (json.dumps(_state("client-1")), "accounts is str, not an object"),
        ("[1, 2]", "the state is list"),
    ],
    ids=["truncated", "accounts-a-string", "not-an-object"],
)
def test_a_bad_state_file_is_one_line_and_no_api_call(calm, text, says):
    calm.reset()
    proc = _run_with_state_text(tap_config(calm.url), text)
    assert proc.returncode == 1, proc.stderr[-2000:]
    errors = [x for x in proc.stderr.splitlines() if "tap-mixoads: error:" in x]
    assert len(errors) == 1 and says in errors[0], proc.stderr[-2000:]
    assert "--full-refresh" in errors[0]
    assert "Traceback" not in proc.stderr
    assert calm.stats()["requests"].get("GET /api/campaigns", 0) == 0


def test_stale_ledger_ids_are_never_synced_and_are_dropped(mock_api):
    server = mock_api("calm", campaigns=20, sync_delay=0)
    stale = {f"gone_{i}": {"runs": 1, "status": "failed"} for i in range(300)}
    listed_failure = {"campaign_4": {"runs": 1, "status": "failed", "error": "x"}}
    state = _state({"tap-mixoads": {"ledger": {**stale, **listed_failure}}})
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "state.json").write_text(json.dumps(state))
        run = run_tap(
            tap_config(server.url, page_size=100), "--state", f"{tmp}/state.json"
        )
    assert run.returncode == 0, run.stderr[-3000:]
    synced = server.stats()["sync_calls"]
    assert set(synced) == {f"campaign_{i}" for i in range(1, 21)}  # no gone_*
    (report,) = run.stream_records("sync_runs")
    assert report["stale_dropped"] == 300
    final = [m for m in run.messages if m["type"] == "STATE"][-1]["value"]
    kept = final["bookmarks"]["campaigns"]["accounts"]["tap-mixoads"]
    assert not [cid for cid in kept.get("ledger", {}) if cid.startswith("gone_")]


def test_a_short_listing_drops_nothing(mock_api):
    server = mock_api(
        "calm", campaigns=30, sync_delay=0, page_fault="empty_after", page_fault_page=2
    )
    stale = {"gone_1": {"runs": 1, "status": "failed"}}
    state = _state({"tap-mixoads": {"ledger": stale}})
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "state.json").write_text(json.dumps(state))
        run = run_tap(
            tap_config(server.url, page_size=10, max_retries=2),
            "--state",
            f"{tmp}/state.json",
        )
    assert run.returncode == 1
    final = [m for m in run.messages if m["type"] == "STATE"][-1]["value"]
    kept = final["bookmarks"]["campaigns"]["accounts"]["tap-mixoads"]
    assert "gone_1" in kept["ledger"]


def test_read_only_and_failed_runs_without_state_erase_no_outcome(
    mock_api, pg_url, pg_schema, target_config
):
    """The warehouse keeps every row's outcome whatever the state knows."""
    server = mock_api("calm", campaigns=20, sync_delay=0, sync_fail_ids=("campaign_7",))
    config = tap_config(server.url, page_size=100, max_retries=1)
    first = run_pipeline(config, target_config, timeout=120)
    assert first.target_returncode == 0, first.target_stderr[-2000:]
    table = f'"{pg_schema}".campaigns'

    def outcomes() -> dict[str, tuple]:
        rows = query(pg_url, f"select id, sync_status, synced_at from {table}")
        return {r[0]: (r[1], r[2]) for r in rows}

    before = outcomes()
    assert before["campaign_7"][0] == "failed"
    assert sum(1 for s, at in before.values() if s == "success" and at) == 19

    # Read-only, no state: the SCHEMA has no sync columns; nothing is nulled.
    read_only = run_pipeline({**config, "sync_mode": "none"}, target_config)
    assert read_only.tap_returncode == 0 and read_only.target_returncode == 0
    assert outcomes() == before
    server.reset()

    # Targeted, no state (say the state was lost with a loader failure):
    # campaigns with no known outcome are synced, so campaign_7 is retried
    # and every row holds a real outcome, never NULL.
    failed = run_pipeline({**config, "sync_mode": "failed"}, target_config)
    assert failed.tap_returncode == 0, failed.tap_stderr[-2000:]
    assert "no sync outcome for some listed campaigns" in failed.tap_stderr
    after = outcomes()
    assert after["campaign_7"][0] == "failed"
    assert all(status is not None for status, _ in after.values())
    assert "campaign_7" in server.stats()["sync_calls"]


def test_a_garbage_synced_entry_is_dropped_and_every_row_loads(
    mock_api, pg_url, pg_schema, target_config
):
    server = mock_api("calm", campaigns=10, sync_delay=0)
    config = tap_config(server.url, page_size=100, sync_mode="failed")
    synced = {
        f"campaign_{i}": ["2024-01-01T00:00:00+00:00", 200, 1] for i in range(1, 11)
    }
    synced["campaign_3"] = ["yesterday-ish", 200, 1]
    state = _state({"tap-mixoads": {"synced": synced}})
    run = run_pipeline(config, target_config, state=state)
    assert run.tap_returncode == 0 and run.target_returncode == 0, (
        run.tap_stderr[-2000:] + run.target_stderr[-2000:]
    )
    assert "account 'tap-mixoads': synced entry of campaign 'campaign_3'" in (
        run.tap_stderr
    )
    (count,) = query(pg_url, f'select count(*) from "{pg_schema}".campaigns')[0]
    assert count == 10
    # Its outcome was unknown once the entry was dropped: it was synced.
    assert set(server.stats()["sync_calls"]) == {"campaign_3"}


def test_sync_retry_dead_outside_failed_mode_warns(calm):
    run = run_tap(tap_config(calm.url, sync_retry_dead=True, sync_mode="none"))
    assert run.returncode == 0
    assert "sync_retry_dead is on but sync_mode is none" in run.stderr
