"""Records written outside a stream's own sync: SCHEMA once, maps applied.

Built on the real tap and its streams (no network: nothing is synced), with
a message writer that keeps what it is given.
"""

from __future__ import annotations

import typing as t

from tap_mixoads.singer.messages import SideWriter
from tap_mixoads.tap import TapMixoAds

CONFIG = {"api_url": "http://api.test", "email": "a@b.c", "password": "pw"}


def _tap(**extra: t.Any) -> tuple[TapMixoAds, list[t.Any]]:
    tap = TapMixoAds(config={**CONFIG, **extra}, validate_config=True)
    written: list[t.Any] = []
    tap.write_message = written.append  # type: ignore[method-assign]
    return tap, written


def _kinds(written: list[t.Any]) -> list[str]:
    return [type(m).__name__ for m in written]


def test_the_schema_goes_out_once_for_several_batches():
    tap, written = _tap()
    events = tap.streams["sync_events"]
    writer = SideWriter(tap, events)
    row = {"run_id": "r", "client_id": "c", "campaign_id": "x", "status": "success"}
    assert writer.write([row]) == 1
    assert writer.write([row, row]) == 2
    assert _kinds(written) == ["SchemaMessage"] + ["RecordMessage"] * 3
    assert set(written[0].schema["properties"]) == set(events.schema["properties"])


def test_a_narrow_schema_has_only_the_columns_the_records_carry():
    tap, written = _tap()
    campaigns = tap.streams["campaigns"]
    writer = SideWriter(tap, campaigns, narrow=True, needs="removed_at")
    mark = {"client_id": "c", "id": "campaign_1", "removed_at": "2026-01-01T00:00:00Z"}
    assert writer.write([mark]) == 1
    schema = written[0]
    assert set(schema.schema["properties"]) == {"client_id", "id", "removed_at"}
    assert "required" not in schema.schema
    assert list(schema.key_properties) == ["client_id", "id"]


def test_a_map_that_drops_the_needed_column_gets_no_record():
    tap, written = _tap(stream_maps={"campaigns": {"removed_at": None}})
    writer = SideWriter(tap, tap.streams["campaigns"], narrow=True, needs="removed_at")
    mark = {"client_id": "c", "id": "campaign_1", "removed_at": "2026-01-01T00:00:00Z"}
    assert writer.write([mark]) == 0
    assert written == []


def test_an_alias_and_a_filter_apply_as_to_every_record():
    tap, written = _tap(
        stream_maps={
            "campaigns": {
                "__alias__": "ads",
                "__filter__": "client_id == 'keep'",
            }
        }
    )
    writer = SideWriter(tap, tap.streams["campaigns"], narrow=True, needs="removed_at")
    marks = [
        {"client_id": cid, "id": "campaign_1", "removed_at": "2026-01-01T00:00:00Z"}
        for cid in ("keep", "drop")
    ]
    assert writer.write(marks) == 1
    assert [m.stream for m in written] == ["ads", "ads"]
    assert written[1].record["client_id"] == "keep"
