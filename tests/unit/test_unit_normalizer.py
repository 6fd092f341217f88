"""The data policy (normaliser) on campaign objects held in memory."""

from __future__ import annotations

import pytest

from tap_mixoads.extract.normalizer import CampaignNormalizer
from tap_mixoads.streams.campaigns import CampaignsStream
from tests.test_data_policy import GOOD, assert_schema_types


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
