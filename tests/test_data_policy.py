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

from tap_mixoads.extract.normalizer import CampaignNormalizer
from tap_mixoads.streams.campaigns import CampaignsStream
from tests.helpers import run_tap, tap_config

ALL_IDS = {f"campaign_{i}" for i in range(1, 101)}
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


def new_normalizer() -> CampaignNormalizer:
    return CampaignNormalizer(CampaignsStream.schema, CampaignsStream.API_FIELDS)


def test_a_clean_campaign_passes_unchanged():
    normalizer = new_normalizer()
    assert normalizer.normalize(dict(GOOD), where="page 1") == GOOD
    assert not normalizer.repairs and not normalizer.rejected


@pytest.mark.parametrize(
    "field",
    ["name", "status", "budget", "impressions", "clicks", "conversions", "created_at"],
)
def test_a_missing_field_becomes_null(field):
    normalizer = new_normalizer()
    raw = {k: v for k, v in GOOD.items() if k != field}
    record = normalizer.normalize(raw, where="page 1")
    assert record is not None
    assert record[field] is None
    assert normalizer.repairs[f"missing {field}"] == 1
    assert_schema_types(record)


@pytest.mark.parametrize(
    ("field", "sent", "expected"),
    [
        ("budget", "1100", 1100),
        ("budget", "1100.5", 1100.5),
        ("budget", " 42 ", 42),
        ("impressions", "8432", 8432),
        ("clicks", "234.0", 234),
        ("conversions", 12.0, 12),
        ("name", 7, "7"),
    ],
)
def test_a_numeric_string_is_coerced(field, sent, expected):
    normalizer = new_normalizer()
    record = normalizer.normalize({**GOOD, field: sent}, where="page 1")
    assert record is not None
    assert record[field] == expected
    assert type(record[field]) is type(expected)
    assert normalizer.repairs[f"coerced {field}"] == 1
    assert_schema_types(record)


@pytest.mark.parametrize(
    ("field", "sent"),
    [
        ("budget", "lots"),
        ("budget", True),
        ("budget", {"amount": 1}),
        ("impressions", "12.5"),
        ("impressions", 12.5),
        ("clicks", False),
        ("conversions", [1]),
        ("created_at", "yesterday"),
        ("created_at", 1733912000),
        ("status", {"a": 1}),
    ],
)
def test_an_uncoercible_value_becomes_null(field, sent):
    normalizer = new_normalizer()
    record = normalizer.normalize({**GOOD, field: sent}, where="page 1")
    assert record is not None
    assert record[field] is None
    assert normalizer.repairs[f"invalid {field}"] == 1
    assert_schema_types(record)


def test_extra_fields_are_dropped_and_named():
    normalizer = new_normalizer()
    record = normalizer.normalize(
        {**GOOD, "promo_code": "VIP", "_internal": 1}, where="page 2"
    )
    assert record == GOOD
    assert normalizer.unknown_fields == {"promo_code", "_internal"}
    assert normalizer.repairs["extra fields dropped"] == 1


@pytest.mark.parametrize(
    "raw",
    [
        {k: v for k, v in GOOD.items() if k != "id"},
        {**GOOD, "id": ""},
        {**GOOD, "id": None},
        {**GOOD, "id": ["campaign_1"]},
        "campaign_1",
        None,
    ],
)
def test_an_item_without_an_id_is_rejected_and_reported(raw):
    normalizer = new_normalizer()
    assert normalizer.normalize(raw, where="page 4") is None
    assert len(normalizer.rejected) == 1
    assert "page 4" in normalizer.rejected[0]


def test_a_numeric_id_is_kept_as_a_string():
    normalizer = new_normalizer()
    record = normalizer.normalize({**GOOD, "id": 17}, where="page 1")
    assert record is not None and record["id"] == "17"


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
