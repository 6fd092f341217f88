"""What a run tells about itself: sync_events, sync_runs, progress, probes."""

from __future__ import annotations

import re

from tests.conftest import query
from tests.helpers import mock_accounts, run_pipeline, run_tap, tap_config
from tests.test_meltano import meltano, tap_env

CLIENT = "tap-mixoads"
SYNC = "POST /api/campaigns/{id}/sync"


def test_sync_events_and_sync_runs_match_what_the_server_saw(
    mock_api, pg_url, pg_schema, target_config
):
    # A limit of 10 calls per second and a tap pacing 1,200/min (20/s):
    # some 429s (with short waits) for the run report to count.
    server = mock_api(
        "calm",
        campaigns=40,
        rate_limit=10,
        rate_window=1.0,
        retry_after_mode="exact",
        sync_fail_ids="3,9",
    )
    config = tap_config(
        server.url, page_size=10, max_retries=3, requests_per_minute=1200
    )
    run = run_pipeline(config, target_config)
    assert run.tap_returncode == 0, run.tap_stderr[-3000:]
    assert run.target_returncode == 0, run.target_stderr[-3000:]
    stats = server.stats()
    client = stats["clients"][CLIENT]

    events = query(
        pg_url,
        f'select campaign_id, status, attempts, run_id from "{pg_schema}".sync_events',
    )
    # One event per campaign synced: its final outcome.
    assert len(events) == len(client["sync_calls"]) == 40
    assert {e[0] for e in events if e[1] == "success"} == set(stats["sync_success"])
    assert {e[0] for e in events if e[1] == "failed"} == {"campaign_3", "campaign_9"}

    (report,) = query(
        pg_url,
        "select run_id, client_id, status, campaigns, synced, failed, deferred, "
        "api_calls, rate_limited, tokens_issued, wall_seconds "
        f'from "{pg_schema}".sync_runs',
    )
    run_id, client_id, status, campaigns, synced, failed, deferred = report[:7]
    api_calls, rate_limited, tokens_issued, wall = report[7:]
    assert {e[3] for e in events} == {run_id}
    assert (client_id, status, campaigns) == (CLIENT, "ok", 40)
    assert (synced, failed, deferred) == (38, 2, 0)
    assert api_calls == client["requests"]
    assert rate_limited == client["rate_limited"] == stats["rate_limited"]
    assert rate_limited > 0, "the test meant to provoke 429s"
    assert tokens_issued == stats["tokens_issued"] == 1
    assert 0 < wall <= run.seconds
    # The README's query: "what happened to campaign_3 over the last week".
    history = query(
        pg_url,
        "select e.at, e.status, e.http_status, e.attempts, e.error, "
        "r.status as run_status "
        f'from "{pg_schema}".sync_events e '
        f'join "{pg_schema}".sync_runs r using (run_id, client_id) '
        "where e.campaign_id = 'campaign_3' and e.client_id = 'tap-mixoads' "
        "and e.at > now() - interval '7 days' order by e.at",
    )
    assert [row[1:4] + row[5:] for row in history] == [("failed", 500, 3, "ok")]
    line = [x for x in run.tap_stderr.splitlines() if "run report: {" in x]
    assert len(line) == 1 and run_id in line[0]


PROGRESS = re.compile(
    r"campaigns \[client (?P<client>[^\]]+)\]: listed (?P<listed>\d+)/(?P<total>\d+|\?)"
    r", synced (?P<synced>\d+)/(?P<target>\d+)(?: \(\d+ failed\))?"
    r", about (?P<left>\d+) (?P<unit>s|min) left at (?P<rpm>[\d.]+) calls/min$"
)


def test_sync_events_come_out_during_the_run_each_once(mock_api):
    """Events are flushed between campaign records, not all after the last.

    With every event after the last campaign, the loader parsed 10,000 of
    them (100 accounts) seconds after the API work was done.
    """
    server = mock_api("calm", accounts=2, campaigns=30, sync_delay=0.1)
    config = tap_config(server.url, requests_per_minute=600)
    del config["email"], config["password"]
    config["accounts"] = mock_accounts(1, 2)
    run = run_tap(config, env={"MIXOADS_EVENTS_FLUSH_SECONDS": "0.5"})
    assert run.returncode == 0, run.stderr[-3000:]
    kinds = [
        (m["type"], m.get("stream"))
        for m in run.messages
        if m["type"] in {"RECORD", "SCHEMA"}
    ]
    last_campaign = max(i for i, k in enumerate(kinds) if k == ("RECORD", "campaigns"))
    events = [i for i, k in enumerate(kinds) if k == ("RECORD", "sync_events")]
    assert events and events[0] < last_campaign  # some came out during the run
    first_schema = kinds.index(("SCHEMA", "sync_events"))
    assert first_schema < events[0]
    records = run.stream_records("sync_events")
    keys = [(r["client_id"], r["campaign_id"]) for r in records]
    assert len(keys) == len(set(keys)) == 60  # every campaign's outcome, once
    assert {r["status"] for r in records} == {"success"}
    # Flushes (every 0.5 s of a run of several seconds) are batches of one
    # stream: its SCHEMA goes out once with the first flush and once with
    # the SDK's own sync at the end, never once per flush; and the stream
    # "begins" once in the log.
    schemas = [i for i, k in enumerate(kinds) if k == ("SCHEMA", "sync_events")]
    batches = sum(
        1
        for i, k in enumerate(kinds)
        if k == ("RECORD", "sync_events") and kinds[i - 1] != k
    )
    assert batches >= 3
    assert len(schemas) <= 2
    assert run.stderr.count("Beginning sync of 'sync_events'") == 1


def test_a_progress_line_says_how_far_and_how_long(mock_api):
    # 20 campaigns paced at 120 calls/min: 21 calls, about 10 s.
    server = mock_api("calm", campaigns=20)
    run = run_tap(
        tap_config(server.url, requests_per_minute=120),
        env={"MIXOADS_PROGRESS_SECONDS": "1"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    found = [PROGRESS.search(line) for line in run.log_lines()]
    matches = [m for m in found if m]
    lines = [line for line in run.log_lines() if "campaigns [client" in line]
    assert len(matches) == len(lines) >= 3, "\n".join(lines)
    synced = [int(m["synced"]) for m in matches]
    assert synced == sorted(synced)
    for m in matches:
        assert m["client"] == CLIENT and m["rpm"] == "120"
        assert m["total"] == "20" and m["target"] == "20"
        assert int(m["synced"]) <= 20
        # Left: the remaining syncs at 2 calls a second (+1 s of rounding).
        seconds = int(m["left"]) * (60 if m["unit"] == "min" else 1)
        assert seconds <= (20 - int(m["synced"])) * 0.5 + 1, m.group(0)
    print("\n".join(lines))


def test_probes_make_no_sync_call(mock_api):
    server = mock_api("calm")
    config = tap_config(server.url)
    for args in (["--test"], ["--discover"], ["--about"]):
        run = run_tap(config, *args)
        assert run.returncode == 0, (args, run.stderr[-2000:])
    proc = meltano("config", "test", "tap-mixoads", env=tap_env(server.url))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Plugin configuration is valid" in proc.stdout
    stats = server.stats()
    assert SYNC not in stats["requests"]
    assert stats["requests"].get("GET /api/campaigns", 0) >= 2  # --test and config test
