"""The ``shard`` setting: a stable hash, one-line errors, the shard in the label."""

from __future__ import annotations

import hashlib
import json

import pytest

from tap_mixoads.config.accounts import (
    accounts_from_config,
    configured_accounts,
    empty_shard_note,
)
from tap_mixoads.config.checks import config_problems, raise_for_problems
from tap_mixoads.config.shards import Shard, shard_of
from tap_mixoads.errors import ConfigError
from tap_mixoads.tap import TapMixoAds
from tests.helpers import error_lines, mock_accounts, run_tap, tap_config

#: Pinned: a change of hash would move every account's ledger to another
#: shard's state, so it must be a deliberate, announced change.
PINNED = {
    ("client-1", 2): 1,
    ("client-2", 2): 1,
    ("client-3", 2): 1,
    ("client-4", 2): 2,
    ("client-3", 3): 3,
    ("client-4", 3): 1,
    ("client-6", 4): 4,
    ("tap-mixoads", 2): 2,
    ("shop-ä", 7): 1,
}


@pytest.mark.parametrize(("client_id", "count"), sorted(PINNED))
def test_the_shard_of_a_client_id_is_pinned(client_id, count):
    assert shard_of(client_id, count) == PINNED[client_id, count]


def test_the_hash_is_sha256_of_the_utf8_client_id_not_pythons_hash():
    """Python's ``hash()`` of a str is salted per process: never the same twice."""
    for client_id in ("client-1", "shop-ä", "x" * 300):
        digest = hashlib.sha256(client_id.encode("utf-8")).digest()
        for count in (1, 2, 3, 10, 97):
            want = int.from_bytes(digest, "big") % count + 1
            assert shard_of(client_id, count) == want
    assert {shard_of(f"acct-{i}", 1) for i in range(50)} == {1}


def test_every_account_is_in_exactly_one_shard():
    ids = [f"shop-{i}" for i in range(200)]
    for count in (1, 2, 3, 7):
        shards = [Shard(k, count) for k in range(1, count + 1)]
        for client_id in ids:
            assert sum(s.holds(client_id) for s in shards) == 1
        sizes = [sum(s.holds(c) for c in ids) for s in shards]
        assert min(sizes) > 0, sizes  # a real spread, not one bucket


@pytest.mark.parametrize("text", ["0/4", "5/4", "a/b", "1/0", "2", "1/2/3", "", "-1/4"])
def test_a_bad_shard_is_one_line_naming_the_setting(text):
    schema = TapMixoAds.full_config_schema()
    config = {"api_url": "http://x", "email": "e@x", "password": "p", "shard": text}
    problems = config_problems(config, schema)
    assert len(problems) == 1, problems
    assert problems[0].startswith("setting 'shard': ")
    with pytest.raises(ConfigError) as caught:
        raise_for_problems(problems)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("text", ["1/1", "2/4", "4/4", " 3/10 "])
def test_a_good_shard_is_accepted(text):
    schema = TapMixoAds.full_config_schema()
    config = {"api_url": "http://x", "email": "e@x", "password": "p", "shard": text}
    assert config_problems(config, schema) == []


def test_a_bad_shard_stops_the_tap_with_one_line_before_any_call(calm):
    run = run_tap(tap_config(calm.url, shard="5/4"), timeout=60)
    assert run.returncode == 1
    (line,) = error_lines(run)
    assert "setting 'shard'" in line and "5/4" in line, line
    assert "Traceback" not in run.stderr
    assert calm.stats()["requests"] == {}


def test_the_shard_picks_its_accounts_from_the_one_list():
    config = {"accounts": mock_accounts(1, 2, 3, 4), "email": "e", "password": "p"}
    everyone = [a.client_id for a in accounts_from_config(config)]
    assert everyone == ["client-1", "client-2", "client-3", "client-4"]
    one = accounts_from_config({**config, "shard": "1/2"})
    two = accounts_from_config({**config, "shard": "2/2"})
    assert [a.client_id for a in one] == ["client-1", "client-2", "client-3"]
    assert [a.client_id for a in two] == ["client-4"]
    assert len(configured_accounts({**config, "shard": "2/2"})) == 4


def test_without_accounts_the_one_account_is_in_exactly_one_shard():
    config = {"client_id": "tap-mixoads", "email": "e", "password": "p"}
    held = {k: accounts_from_config({**config, "shard": f"{k}/2"}) for k in (1, 2)}
    assert held[1] == []
    assert [a.client_id for a in held[2]] == ["tap-mixoads"]
    note = empty_shard_note({**config, "shard": "1/2"})
    assert note is not None and note.startswith("shard 1/2: none of the 1 ")
    assert empty_shard_note({**config, "shard": "2/2"}) is None
    assert empty_shard_note(config) is None


def test_the_label_shows_the_shard_when_one_is_set():
    config = {"accounts": mock_accounts(4), "email": "e", "password": "p"}
    (plain,) = accounts_from_config(config)
    (sharded,) = accounts_from_config({**config, "shard": "2/2"})
    assert plain.label == "[client client-4] "
    assert sharded.label == "[client client-4 shard 2/2] "


def _four_accounts(mock_api, **knobs):
    return mock_api(
        "fast",
        accounts=4,
        campaigns=10,
        rate_limit=1000,
        rate_window=1,
        sync_delay=0.01,
        error_rate=0.0,
        hang_rate=0.0,
        **knobs,
    )


def _sharded_config(url: str, shard: str | None) -> dict:
    config = tap_config(url, accounts=mock_accounts(1, 2, 3, 4), max_retries=2)
    del config["email"], config["password"]
    if shard is not None:
        config["shard"] = shard
    return config


def test_two_shards_run_each_account_once_and_name_their_shard(mock_api):
    """Shards 1/2 and 2/2 of one list: disjoint, complete, labelled.

    Shard 2/2 holds one account (client-4): its lines carry the label too
    (without a shard, one account's lines carry none), its progress lines
    and its failed sync's lines included.
    """
    server = _four_accounts(mock_api, sync_fail_ids=("campaign_3",))
    progress = {"MIXOADS_PROGRESS_SECONDS": "0.2"}
    runs = {
        k: run_tap(_sharded_config(server.url, f"{k}/2"), timeout=120, env=progress)
        for k in (1, 2)
    }
    seen: dict[int, set[str]] = {}
    for k, run in runs.items():
        assert run.returncode == 0, run.stderr[-3000:]
        seen[k] = {r["client_id"] for r in run.records}
        keys = [(r["client_id"], r["id"]) for r in run.records]
        assert len(keys) == len(set(keys)) == 10 * len(seen[k])
        for line in run.log_lines():
            if "[client " in line:
                assert f" shard {k}/2]" in line, line
    assert seen == {1: {"client-1", "client-2", "client-3"}, 2: {"client-4"}}
    assert "[client client-4 shard 2/2] " in runs[2].stderr
    # The progress line too (the retry's 0.6 s backoff outlasts 0.2 s).
    assert "campaigns [client client-4 shard 2/2]: listed" in runs[2].stderr
    failed = [line for line in runs[2].log_lines() if "failed: campaign_3" in line]
    assert failed and all("[client client-4 shard 2/2] " in f for f in failed)
    clients = server.client_stats()
    assert set(clients) == {"client-1", "client-2", "client-3", "client-4"}
    # Each account ran in exactly one process: campaign_1 synced once each.
    assert all(c["sync_calls"].get("campaign_1") == 1 for c in clients.values())


def test_a_shard_with_no_account_warns_once_and_exits_0(mock_api, tmp_path):
    """4 accounts over 3 shards: 2/3 holds none (pinned above), which is fine."""
    server = _four_accounts(mock_api)
    state = {"bookmarks": {"campaigns": {"accounts": {"client-3": {"ledger": {}}}}}}
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(state))
    config = _sharded_config(server.url, "2/3")
    run = run_tap(config, "--state", str(state_file), timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    notes = [line for line in run.log_lines() if "shard 2/3: none of the 4" in line]
    assert len(notes) == 1, run.stderr
    assert run.records == []
    assert server.stats()["requests"] == {}  # not even a token
    states = [m["value"] for m in run.messages if m["type"] == "STATE"]
    assert states[-1]["bookmarks"]["campaigns"] == state["bookmarks"]["campaigns"]
    # Shard 3/3 of the same list holds client-3: the control.
    held = run_tap({**config, "shard": "3/3"}, timeout=120)
    assert held.returncode == 0, held.stderr[-3000:]
    assert {r["client_id"] for r in held.records} == {"client-3"}
    assert "none of the" not in held.stderr


def test_the_shard_setting_is_declared_for_about_and_the_mirrors():
    """--about, meltano.yml, tap-mixoads.yml, .env.example and the README table
    derive from this declaration (devtools.check_settings, devtools.readme)."""
    prop = TapMixoAds.config_jsonschema["properties"]["shard"]
    assert "string" in prop["type"]
    assert "default" not in prop  # unset: every account
    assert prop["description"].startswith("K/N")
