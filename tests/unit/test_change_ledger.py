"""In-process tests of the fingerprint and the compact ledger (no server)."""

from __future__ import annotations

import base64
import hashlib
import json

import orjson
import pytest

from tap_mixoads.sync.change import (
    DEFAULT_CHANGE_FIELDS,
    _canonical,
    change_fields_problem,
    fingerprint,
)
from tap_mixoads.sync.entries import Success
from tap_mixoads.sync.ledger import REMOVED_KEPT_DAYS, Ledger
from tap_mixoads.sync.state import parse_state
from tap_mixoads.sync.syncer import SyncOutcome

ROW = {"id": "campaign_1", "name": "A", "status": "active", "budget": 1100}


def test_a_budget_of_1100_and_1100_0_is_one_setting():
    assert fingerprint(ROW, DEFAULT_CHANGE_FIELDS) == fingerprint(
        {**ROW, "budget": 1100.0}, DEFAULT_CHANGE_FIELDS
    )
    assert fingerprint(ROW, DEFAULT_CHANGE_FIELDS) != fingerprint(
        {**ROW, "budget": 1100.5}, DEFAULT_CHANGE_FIELDS
    )


def test_metrics_and_created_at_never_change_the_fingerprint():
    noisy = {**ROW, "impressions": 5, "clicks": 1, "created_at": "2024-01-01T00:00:00Z"}
    assert fingerprint(noisy, DEFAULT_CHANGE_FIELDS) == fingerprint(
        {**noisy, "impressions": 9, "clicks": 7}, DEFAULT_CHANGE_FIELDS
    )


@pytest.mark.parametrize("field", ["name", "status", "budget"])
def test_each_default_setting_is_a_change(field):
    assert fingerprint(ROW, DEFAULT_CHANGE_FIELDS) != fingerprint(
        {**ROW, field: "other"}, DEFAULT_CHANGE_FIELDS
    )


@pytest.mark.parametrize(
    "settings",
    [
        {"name": "Spring", "status": "active", "budget": 1100},
        {"name": "Spring", "status": None, "budget": 1100.5},
        {"name": "Spring", "status": "paused", "budget": {"b": 1.0, "a": [2.0]}},
    ],
)
def test_the_fingerprint_is_the_one_earlier_states_hold(settings):
    """States written before the fast path must still read as unchanged."""
    canonical = [_canonical(settings[name]) for name in DEFAULT_CHANGE_FIELDS]
    digest = hashlib.blake2b(
        orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS), digest_size=6
    ).digest()
    expected = base64.urlsafe_b64encode(digest).decode("ascii")
    assert fingerprint({**ROW, **settings}, DEFAULT_CHANGE_FIELDS) == expected


def test_only_the_chosen_fields_count():
    assert fingerprint(ROW, ["status"]) == fingerprint({**ROW, "budget": 1}, ["status"])


def test_change_fields_problems_name_the_setting():
    known = ("name", "status", "budget", "impressions", "created_at")
    assert change_fields_problem(["name"], known) is None
    for fields in (["impressions"], ["created_at"], ["colour"], []):
        problem = change_fields_problem(fields, known)
        assert problem is not None and "sync_change_fields" in problem


def _success(at: str = "2026-12-05T14:32:13.123456+00:00") -> SyncOutcome:
    return SyncOutcome("success", synced_at=at, http_status=200, attempts=1)


@pytest.mark.parametrize(
    "success",
    [
        Success("2026-12-05T14:32:13.123456+00:00", 200, 1, "AbCdEfGh"),
        Success("2026-12-05T14:32:13Z", 201, 3, "AbCdEfGh"),
        Success(None, None, 2, None),
        Success("2026-12-05T14:32:13", 200, 1, "x"),  # no zone: kept as text
    ],
)
def test_a_success_survives_the_state(success):
    back = Success.from_state(json.loads(json.dumps(success.to_state())))
    assert back.fingerprint == success.fingerprint
    assert (back.http_status, back.attempts) == (success.http_status, success.attempts)
    if success.synced_at is None:
        assert back.synced_at is None
    else:  # the same instant
        from datetime import datetime

        def parse(text: str) -> datetime:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))

        assert parse(back.synced_at) == parse(success.synced_at)


def test_the_older_three_item_entry_still_reads():
    old = Success.from_state(["2026-01-01T00:00:00+00:00", 200, 1])
    assert old.fingerprint is None and old.attempts == 1


def test_a_ledger_of_100_campaigns_keeps_under_40_bytes_each():
    ledger = Ledger({}, give_up_after_runs=5)
    for i in range(1, 101):
        cid = f"campaign_{i}"
        print_ = fingerprint({**ROW, "id": cid, "budget": i}, DEFAULT_CHANGE_FIELDS)
        ledger.listed(cid, print_)
        ledger.record(cid, _success(), print_)
    text = json.dumps({"acct-0001": ledger.to_state()}, separators=(",", ":"))
    assert len(text) <= 40 * 100, len(text)
    again = Ledger(json.loads(text)["acct-0001"], give_up_after_runs=5)
    assert again.to_state() == ledger.to_state()


def test_unchanged_only_after_a_success_with_the_same_settings():
    ledger = Ledger({}, give_up_after_runs=5)
    assert not ledger.unchanged("c1", "fp")  # never synced
    ledger.record("c1", _success(), "fp")
    assert ledger.unchanged("c1", "fp")
    assert not ledger.unchanged("c1", "other")
    ledger.record("c1", SyncOutcome("failed", http_status=500, attempts=8), "fp")
    assert not ledger.unchanged("c1", "fp")  # its last sync failed
    ledger.record("c1", _success(), "fp")
    ledger.record("c1", SyncOutcome("deferred", error="breaker"), "fp")
    assert not ledger.unchanged("c1", "fp")  # deferred


def test_close_listing_marks_once_and_a_return_clears_the_mark():
    ledger = Ledger({}, give_up_after_runs=5)
    for cid in ("c1", "c2", "c3"):
        ledger.listed(cid, "fp")
        ledger.record(cid, _success(), "fp")
    ledger.record("c3", SyncOutcome("failed", http_status=500, attempts=1), "fp")
    dropped, removals = ledger.close_listing({"c1"}, now=1_000_000)
    assert dropped == 1  # c3's failure entry
    assert [r.campaign_id for r in removals] == ["c2", "c3"]
    assert removals[0].removed_at == "1970-01-12T13:46:40+00:00"
    assert ledger.close_listing({"c1"}, now=1_000_100) == (0, [])  # not again
    ledger.listed("c2", "fp")  # back, unchanged: needs no sync
    assert "c2" not in ledger.removed and ledger.unchanged("c2", "fp")
    ledger.listed("c3", "fp")  # back, its last sync never succeeded
    assert not ledger.unchanged("c3", "fp")


def test_marks_are_forgotten_after_the_retention():
    ledger = Ledger({}, give_up_after_runs=5)
    ledger.record("c1", _success(), "fp")
    ledger.close_listing(set(), now=0)
    assert "c1" in ledger.removed
    ledger.close_listing(set(), now=REMOVED_KEPT_DAYS * 86400 + 1)
    assert "c1" not in ledger.removed and "c1" not in ledger.synced


def test_bad_compact_entries_are_dropped_by_name():
    state = {
        "bookmarks": {
            "campaigns": {
                "accounts": {
                    "acme": {
                        "synced": {"c1": "fp,hoss1ew5h4", "c2": "fp,!!", "c3": 7},
                        "seen": {"c4": "fp", "c5": 3},
                        "removed": {"c6": 1700000000, "c7": "yesterday"},
                    }
                }
            }
        }
    }
    parsed = parse_state(state)
    acme = parsed.state["bookmarks"]["campaigns"]["accounts"]["acme"]
    assert list(acme["synced"]) == ["c1"]
    assert list(acme["seen"]) == ["c4"]
    assert list(acme["removed"]) == ["c6"]
    named = " ".join(parsed.dropped)
    for cid in ("c2", "c3", "c5", "c7"):
        assert f"'{cid}'" in named
