"""The data policy of records.py, unit by unit and against the mock's data faults.

Policy: a missing field becomes null; a numeric string is coerced to the
number; a value that cannot be coerced becomes null; extra fields are dropped;
an item without an id is rejected and reported; a ``total`` that changes
between pages is handled by trusting the largest total seen and stopping on
an empty page. Whatever the API sends, every record matches the schema types.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import run_tap, tap_config

ALL_IDS = {f"campaign_{i}" for i in range(1, 101)}
GOOD = {
    "id": "campaign_1",
    "name": "Campaign 1",
    "status": "active",
    "budget": 1100,
    "impressions": 8432,
    "clicks": 234,
    "conversions": 12,
    "created_at": "2024-12-11T10:30:00.000Z",
}


SCHEMA_FIELDS = {
    "client_id",
    "id",
    "name",
    "status",
    "budget",
    "impressions",
    "clicks",
    "conversions",
    "created_at",
    "sync_status",
    "synced_at",
    "sync_http_status",
    "sync_error",
    "sync_attempts",
    "removed_at",
}


def assert_schema_types(record: dict[str, Any]) -> None:
    """Every field has the type the schema declares (or is null)."""
    assert set(record) <= SCHEMA_FIELDS, set(record) - SCHEMA_FIELDS
    assert isinstance(record["id"], str) and record["id"]
    for field in ("name", "status", "created_at"):
        assert record.get(field) is None or isinstance(record[field], str), record
    budget = record.get("budget")
    assert budget is None or (
        isinstance(budget, int | float) and not isinstance(budget, bool)
    ), record
    for field in ("impressions", "clicks", "conversions"):
        value = record.get(field)
        assert value is None or type(value) is int, record


# --- unit tests of CampaignNormalizer ------------------------------------


# --- against the mock's data faults --------------------------------------


@pytest.mark.parametrize(
    ("kind", "knobs", "repair"),
    [
        ("missing_field", {"missing_field_rate": 0.5}, "missing "),
        ("wrong_type", {"wrong_type_rate": 0.5}, "coerced "),
        ("extra_field", {"extra_field_rate": 0.5}, "extra fields dropped"),
    ],
)
def test_mangled_records_follow_the_policy(mock_api, kind, knobs, repair):
    server = mock_api("calm", vendor_quirks=False, seed=21, **knobs)
    run = run_tap(tap_config(server.url, page_size=10, sync_mode="none"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert server.stats()["faults"].get(kind, 0) > 0
    assert sorted(run.ids) == sorted(ALL_IDS)
    for record in run.records:
        assert_schema_types(record)
    assert "Data repaired per the data policy" in run.stderr
    assert repair in run.stderr
    if kind == "missing_field":
        assert any(
            any(record[f] is None for f in GOOD if f != "id") for record in run.records
        )
    if kind == "wrong_type":
        # Coerced, not nulled: the mock only ever stringifies real numbers.
        for record in run.records:
            for field in ("budget", "impressions", "clicks", "conversions"):
                assert record[field] is not None, record
    if kind == "extra_field":
        assert "promo_code" in run.stderr  # named once in the summary
        assert all("promo_code" not in record for record in run.records)


@pytest.mark.parametrize("page_size", [10, 30])
def test_a_drifting_total_loses_and_invents_nothing(mock_api, page_size):
    # Every page reports a total off by up to 3 (97..103); the real list ends
    # at 100 and, without the vendor's phantom pages, a page past it is empty.
    server = mock_api("calm", vendor_quirks=False, total_drift=3, seed=22)
    run = run_tap(tap_config(server.url, page_size=page_size, sync_mode="none"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert server.stats()["faults"].get("total_drift", 0) > 0
    assert len(run.ids) == 100
    assert set(run.ids) == ALL_IDS


@pytest.mark.parametrize("seed", [1, 3])
def test_a_total_that_drifts_down_on_the_only_page_is_authoritative(mock_api, seed):
    # Seeds 1 and 3 make the single page report a total below 100. The
    # contract says the total is authoritative and a campaign past the largest
    # total reported is never emitted (padding looks exactly like this): the
    # rows past it are cut, and the cut is said in a warning.
    server = mock_api("calm", vendor_quirks=False, total_drift=3, seed=seed)
    run = run_tap(tap_config(server.url, page_size=100, sync_mode="none"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert server.stats()["faults"].get("total_drift", 0) > 0
    kept = len(run.ids)
    assert 97 <= kept < 100
    assert run.ids == [f"campaign_{i}" for i in range(1, kept + 1)]
    assert f"skipped {100 - kept} campaigns past the total ({kept})" in run.stderr


def test_phantom_campaigns_past_the_end_are_not_loaded(mock_api):
    # Vendor quirk + a total that drifts up: the tap reads past the real end
    # and gets "phantom" campaigns; their sync answers 404 and they are dropped.
    # With 10 pages, the largest of ten drifted totals is almost surely > 100.
    server = mock_api("calm", vendor_quirks=True, total_drift=3, seed=2)
    run = run_tap(tap_config(server.url, page_size=10, sync_concurrency=8))
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(run.ids) == sorted(ALL_IDS)
    assert all(record["sync_status"] == "success" for record in run.records)
    stats = server.stats()
    assert stats["statuses"].get("404", 0) > 0, "no phantom was ever listed"
    assert "does not know (404)" in run.stderr
