"""``tap-mixoads-state``: merging shards' states and splitting them by new shard.

The end-to-end proof through Meltano (2 shards become 3, every ledger found
by its new shard) is in tests/test_meltano_shards.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tap_mixoads.config.shards import Shard
from tap_mixoads.shard_state import State, StateFileError, merge, run, split
from tests.helpers import REPO_ROOT


def ledger(tag: str) -> dict:
    return {"ledger": {"campaign_7": {"runs": 1, "error": tag}}, "synced": {}}


def state(accounts: dict, *, wrapped: bool = True, **extra) -> dict:
    singer = {"bookmarks": {"campaigns": {"accounts": accounts}, **extra}}
    return {"singer_state": singer} if wrapped else singer


def accounts_of(document: dict) -> dict:
    singer = document.get("singer_state", document)
    return singer["bookmarks"]["campaigns"]["accounts"]


def test_merge_joins_every_shards_accounts():
    one = State(state({"client-1": ledger("a"), "client-2": ledger("b")}), "one")
    two = State(state({"client-4": ledger("c")}, sync_runs={"x": 1}), "two")
    merged = merge([one, two])
    assert merged.wrapped
    assert accounts_of(merged.document) == {
        "client-1": ledger("a"),
        "client-2": ledger("b"),
        "client-4": ledger("c"),
    }
    assert merged.singer["bookmarks"]["sync_runs"] == {"x": 1}
    # The inputs are untouched.
    assert set(one.accounts) == {"client-1", "client-2"}


def test_merge_takes_a_bare_singer_state_and_an_empty_one():
    bare = State(state({"client-1": ledger("a")}, wrapped=False), "bare")
    empty = State({}, "empty")
    merged = merge([empty, bare])
    assert accounts_of(merged.document) == {"client-1": ledger("a")}
    assert not merged.wrapped


def test_an_account_with_two_different_ledgers_is_refused_unless_told():
    one = State(state({"client-1": ledger("old")}), "one.json")
    two = State(state({"client-1": ledger("new")}), "two.json")
    with pytest.raises(StateFileError) as caught:
        merge([one, two])
    assert "'client-1' (one.json, two.json)" in str(caught.value)
    assert accounts_of(merge([one, two], on_conflict="first").document) == {
        "client-1": ledger("old")
    }
    assert accounts_of(merge([one, two], on_conflict="last").document) == {
        "client-1": ledger("new")
    }
    # The same entry twice is no conflict.
    assert merge([one, State(state({"client-1": ledger("old")}), "x")]).accounts


def test_split_keeps_only_the_new_shards_accounts():
    ids = [f"client-{k}" for k in range(1, 9)]
    whole = State(state({cid: ledger(cid) for cid in ids}, sync_runs={"x": 1}), "all")
    parts = [split(whole, Shard(k, 3)) for k in (1, 2, 3)]
    for k, part in enumerate(parts, start=1):
        assert all(Shard(k, 3).holds(cid) for cid in part.accounts)
        assert part.singer["bookmarks"]["sync_runs"] == {"x": 1}
    held = [cid for part in parts for cid in part.accounts]
    assert sorted(held) == sorted(ids)  # each account in exactly one part
    assert len(whole.accounts) == len(ids)  # the input is untouched


@pytest.mark.parametrize(
    ("document", "wanted"),
    [
        ([], "must be a JSON object"),
        ({"singer_state": "x"}, "singer_state must be a JSON object"),
        (
            {"singer_state": {"bookmarks": {"campaigns": {"accounts": "x"}}}},
            "singer_state.bookmarks.campaigns.accounts must be a JSON object",
        ),
        ({"bookmarks": []}, "state.bookmarks must be a JSON object"),
    ],
)
def test_a_state_that_is_not_a_tap_mixoads_state_is_one_line(document, wanted):
    with pytest.raises(StateFileError) as caught:
        State(document, "s.json")
    assert str(caught.value).startswith("s.json: ")
    assert wanted in str(caught.value)


def test_the_command_merges_and_splits_files(tmp_path, capsys):
    one = tmp_path / "one.json"
    two = tmp_path / "two.json"
    one.write_text(
        json.dumps(state({"client-1": ledger("a"), "client-3": ledger("b")}))
    )
    two.write_text(json.dumps(state({"client-4": ledger("c")})))
    assert run(["merge", str(one), str(two)]) == 0
    out, err = capsys.readouterr()
    assert "merged 3 account(s) from 2 states" in err
    merged = tmp_path / "all.json"
    merged.write_text(out)
    got = {}
    for k in (1, 2, 3):
        assert run(["split", "--shard", f"{k}/3", str(merged)]) == 0
        out, err = capsys.readouterr()
        got[k] = set(accounts_of(json.loads(out)))
    # Pinned in tests/test_shards.py: client-1 and -4 in 1/3, client-3 in 3/3.
    assert got == {1: {"client-1", "client-4"}, 2: set(), 3: {"client-3"}}


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        (["split", "--shard", "4/3", "{tmp}/all.json"], "--shard: '4/3' needs"),
        (["merge", "{tmp}/missing.json"], "missing.json: cannot be read"),
        (["merge", "{tmp}/bad.json"], "bad.json: not JSON (line 1, column 2)"),
    ],
)
def test_the_command_fails_with_one_line(tmp_path, args, wanted):
    (tmp_path / "all.json").write_text("{}")
    (tmp_path / "bad.json").write_text("{,")
    proc = subprocess.run(
        [sys.executable, "-m", "tap_mixoads.shard_state"]
        + [a.format(tmp=tmp_path) for a in args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("tap-mixoads-state: error: ")
    assert wanted in line
