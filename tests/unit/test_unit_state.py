"""The prior state's validating parser, in memory."""

from __future__ import annotations

import pytest

from tap_mixoads.sync.state import StateError, parse_state
from tests.test_state_validation import _state


@pytest.mark.parametrize(
    ("state", "where"),
    [
        ([], "the state is list"),
        ({"bookmarks": "x"}, "bookmarks is str"),
        ({"bookmarks": {"campaigns": None}}, "bookmarks.campaigns is null"),
        ({"bookmarks": {"sync_runs": 3}}, "bookmarks.sync_runs is int"),
        (_state("client-1"), "bookmarks.campaigns.accounts is str"),
    ],
)
def test_a_state_not_made_of_objects_is_one_line_saying_how_to_start_fresh(
    state, where
):
    with pytest.raises(StateError) as caught:
        parse_state(state)
    message = str(caught.value)
    assert where in message
    assert "--full-refresh" in message and "\n" not in message


def test_bad_entries_are_dropped_naming_account_and_campaign():
    good_ledger = {"runs": 1, "status": "failed", "error": "500", "attempts": 8}
    state = _state(
        {
            "acme": {
                "ledger": {
                    "campaign_1": good_ledger,
                    "campaign_2": {"runs": "many", "status": "failed"},
                    "campaign_3": {"runs": 1, "status": "exploded"},
                    "campaign_4": "garbage",
                },
                "synced": {
                    "campaign_5": ["2024-01-01T00:00:00+00:00", 200, 1],
                    "campaign_6": ["not a date", 200, 1],
                    "campaign_7": {"synced_at": "2024-01-01"},
                    "campaign_8": ["2024-01-01T00:00:00+00:00", "200", 1],
                },
            },
            "beta": "not an entry",
            "gamma": {"ledger": [], "synced": {}},
        }
    )
    parsed = parse_state(state)
    accounts = parsed.state["bookmarks"]["campaigns"]["accounts"]
    assert set(accounts) == {"acme", "gamma"}
    assert accounts["acme"]["ledger"] == {"campaign_1": good_ledger}
    assert list(accounts["acme"]["synced"]) == ["campaign_5"]
    assert "ledger" not in accounts["gamma"]
    text = "\n".join(parsed.warnings())
    for campaign in ("campaign_2", "campaign_3", "campaign_4", "campaign_6"):
        assert "account 'acme': " in text and f"'{campaign}'" in text
    assert "account 'beta'" in text and "account 'gamma': its ledger is list" in text


def test_a_good_state_passes_unchanged():
    state = _state(
        {
            "acme": {
                "ledger": {"c1": {"runs": 2, "status": "dead", "error": None}},
                "synced": {"c2": [None, None, None]},
            }
        }
    )
    parsed = parse_state(state)
    assert parsed.state == state and not parsed.dropped
