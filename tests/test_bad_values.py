"""One bad value never loses a batch (issue "exit status is the truth", point 3).

The mock plants one hostile value per fixed campaign (``bad_values``, see
mock_api/badvalues.py): a NUL in a name and in a sync error body, an integer
of 2**63, numeric strings too large for 64 bits, a 10 KiB id, ids unusable
in a sync path, a lone surrogate (which a strict JSON decoder rejects with
the whole page). Each is repaired or rejected per value or per record,
counted in the end-of-run warning, and every other row lands in PostgreSQL.
"""

from __future__ import annotations

import orjson
import pytest
import requests

from mock_api.config import BAD_VALUES
from tap_mixoads.extract.normalizer import MAX_ID_CHARS
from tap_mixoads.http.responses import error_text, printable
from tests.conftest import query
from tests.helpers import run_pipeline, run_tap, tap_config

#: campaign_6 (10 KiB id), campaign_7 ("..") and campaign_8 ("a/../b").
REJECTED = {6, 7, 8}
KEPT_IDS = {f"campaign_{i}" for i in range(1, 101) if i not in REJECTED}


def _warning(stderr: str) -> str:
    (line,) = [
        x for x in stderr.splitlines() if "Data repaired per the data policy" in x
    ]
    return line


def test_every_bad_value_is_repaired_or_rejected_and_the_rest_lands(
    mock_api, pg_url, pg_schema, target_config
):
    server = mock_api("calm", vendor_quirks=False, bad_values=BAD_VALUES, sync_delay=0)
    config = tap_config(server.url, page_size=100, sync_concurrency=4, max_retries=2)
    run = run_pipeline(config, target_config, timeout=120)
    # Repairs and rejections are the data policy at work, not a failure.
    assert run.tap_returncode == 0, run.tap_stderr[-3000:]
    assert run.target_returncode == 0, run.target_stderr[-3000:]
    # One list call: the page with the lone surrogate was not refused.
    assert server.stats()["requests"]["GET /api/campaigns"] == 1

    rows = {
        row[0]: row[1:]
        for row in query(
            pg_url,
            "select id, name, impressions, budget, sync_status, sync_error "
            f'from "{pg_schema}".campaigns',
        )
    }
    assert set(rows) == KEPT_IDS
    name2, *_ = rows["campaign_2"]
    assert name2 == "Campaign 2"  # NUL removed
    assert rows["campaign_3"][1] is None  # 2**63 impressions -> null
    assert rows["campaign_4"][2] is None  # "1e30" budget -> null
    assert rows["campaign_5"][2] is None  # 30-digit budget -> null
    assert rows["campaign_9"][0] == "Campaign\ufffd 9"  # lone surrogate replaced
    # -2**63 - 1 is out of range, not rounded to -2**63 (a float on the way).
    (clicks11,) = query(
        pg_url, f"select clicks from \"{pg_schema}\".campaigns where id = 'campaign_11'"
    )[0]
    assert clicks11 is None
    # "9007199254740993" keeps its last digit (a float would end in ...992).
    assert rows["campaign_12"][2] == 9007199254740993
    # A name nested 5,000 levels deep is null; its campaign and page survive.
    assert rows["campaign_13"][0] is None and rows["campaign_13"][1] is not None
    # The sync of campaign_10 failed with a NUL in its error body: its row
    # loaded like every other, the error stored without the NUL.
    _, _, _, status10, error10 = rows["campaign_10"]
    assert status10 == "failed"
    assert "answered 500 (Sync failed)" in error10 and "\x00" not in error10
    # Every other campaign is whole and synced.
    assert rows["campaign_11"][3] == "success"
    assert sum(1 for r in rows.values() if r[3] == "success") == len(KEPT_IDS) - 1
    synced = set(server.stats()["sync_calls"])
    assert synced == KEPT_IDS  # no sync call for a rejected id

    # One warning counts each repair and names each rejection.
    line = _warning(run.tap_stderr)
    for part in (
        "NUL removed from name: 1",
        "out-of-range impressions: 1",
        "out-of-range budget: 2",
        "invalid unicode replaced in name: 1",
        "out-of-range clicks: 1",
        "coerced budget: 1",
        "invalid name: 1",
        "rejected 3:",
        f"with an id of 10240 characters (over {MAX_ID_CHARS})",
        "with id '..', unusable in the sync path",
        "with id 'a/../b', unusable in the sync path",
    ):
        assert part in line, (part, line)


@pytest.mark.parametrize(
    ("kind", "repair"),
    [
        ("nul", "NUL removed from name: 1"),
        ("bigint", "out-of-range impressions: 1"),
        ("bigstring", "out-of-range budget: 2"),
        ("surrogate", "invalid unicode replaced in name: 1"),
        ("longid", "rejected 1: campaign with an id of 10240 characters"),
        ("dotdot", "rejected 2: campaign with id '..'"),
        ("int64low", "out-of-range clicks: 1"),
        ("bigstring53", "coerced budget: 1"),
        ("deep", "invalid name: 1"),
    ],
)
def test_each_bad_value_alone_costs_only_its_own_value_or_record(
    mock_api, kind, repair
):
    server = mock_api("calm", vendor_quirks=False, bad_values=(kind,))
    run = run_tap(tap_config(server.url, page_size=10, sync_mode="none"))
    assert run.returncode == 0, run.stderr[-3000:]
    lost = {"longid": 1, "dotdot": 2}.get(kind, 0)
    assert len(run.ids) == len(set(run.ids)) == 100 - lost
    assert repair in _warning(run.stderr)
    for record in run.records:
        for value in record.values():
            if isinstance(value, str):
                assert "\x00" not in value
                value.encode("utf-8")  # no lone surrogate reaches the output
            if isinstance(value, int):
                assert -(2**63) <= value < 2**63


def test_a_nul_in_server_text_is_made_visible_not_stored():
    # What goes into sync_error and error lines: PostgreSQL text cannot hold
    # a NUL, and a newline would split a one-line error.
    assert printable("Upstream said \x00 while\nsyncing") == (
        "Upstream said \\x00 while\\x0asyncing"
    )
    response = requests.Response()
    response.status_code = 500
    response._content = b'{"error": "Sync\\u0000 failed"}'
    assert error_text(response) == "Sync\\x00 failed"


def test_numbers_are_never_rounded_into_range_or_out_of_their_digits():
    from tap_mixoads.extract.normalizer import CampaignNormalizer

    schema = {
        "properties": {
            "id": {"type": ["string"]},
            "clicks": {"type": ["integer", "null"]},
            "budget": {"type": ["number", "null"]},
        }
    }
    normalizer = CampaignNormalizer(schema, ["id", "clicks", "budget"])
    # What orjson hands over for the literal -9223372036854775809: -2.0**63.
    low = normalizer.normalize(
        {"id": "c", "clicks": -(2.0**63), "budget": -(2.0**63)}, where="page 1"
    )
    assert low == {"id": "c", "clicks": None, "budget": None}
    exact = normalizer.normalize(
        {"id": "c", "clicks": "9007199254740993", "budget": "9007199254740993"},
        where="page 1",
    )
    assert exact == {"id": "c", "clicks": 2**53 + 1, "budget": 2**53 + 1}
    # The edge itself, sent as an integer, is in range and kept.
    edge = normalizer.normalize(
        {"id": "c", "clicks": -(2**63), "budget": 1.5}, where="page 1"
    )
    assert edge == {"id": "c", "clicks": -(2**63), "budget": 1.5}


def test_only_the_too_deep_value_is_cut_and_text_that_looks_like_nesting_stays():
    from tap_mixoads.http.responses import MAX_JSON_DEPTH, without_deep_values

    deep = b"[" * 5000 + b"]" * 5000
    body = b'{"data":[{"id":"a","name":' + deep + b'},{"id":"b","name":"[{ \\" }]"}]}'
    shallow, cut = without_deep_values(body)
    assert cut == 1
    decoded = orjson.loads(shallow)
    assert decoded["data"][1] == {"id": "b", "name": '[{ " }]'}
    value, depth = decoded["data"][0]["name"], 0
    while isinstance(value, list):
        value, depth = value[0] if value else None, depth + 1
    assert depth == MAX_JSON_DEPTH - 3  # page, data, campaign above it
