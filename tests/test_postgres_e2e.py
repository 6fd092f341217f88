"""End to end: the real tap into real target-postgres into a real PostgreSQL."""

from __future__ import annotations

from tests.conftest import query
from tests.helpers import run_pipeline, tap_config


def _counts(pg_url, schema):
    return query(
        pg_url,
        f"select count(*), count(distinct id), "
        f"count(*) filter (where sync_status = 'success' and synced_at is not null) "
        f'from "{schema}".campaigns',
    )[0]


def test_all_campaigns_land_once_and_a_rerun_updates_not_duplicates(
    mock_api, pg_url, pg_schema, target_config
):
    server = mock_api("fast", rate_limit=0, seed=21)
    config = tap_config(server.url, page_size=10)
    first = run_pipeline(config, target_config)
    assert first.tap_returncode == 0, first.tap_stderr[-2000:]
    assert first.target_returncode == 0, first.target_stderr[-2000:]
    assert _counts(pg_url, pg_schema) == (100, 100, 100)
    before = dict(query(pg_url, f'select id, impressions from "{pg_schema}".campaigns'))

    second = run_pipeline(config, target_config)
    assert second.tap_returncode == 0 and second.target_returncode == 0
    assert _counts(pg_url, pg_schema) == (100, 100, 100)
    after = dict(query(pg_url, f'select id, impressions from "{pg_schema}".campaigns'))
    # Metrics change on every call: the second run updated the rows in place.
    assert before.keys() == after.keys()
    assert sum(before[k] != after[k] for k in before) > 50


def test_failed_syncs_still_land_with_the_failure_recorded(
    mock_api, pg_url, pg_schema, target_config
):
    server = mock_api("calm", sync_fail_ids="3,50")
    run = run_pipeline(tap_config(server.url, max_retries=2), target_config)
    assert run.tap_returncode == 0 and run.target_returncode == 0, run.tap_stderr[
        -2000:
    ]
    rows = query(
        pg_url,
        "select id, sync_status, synced_at, sync_http_status "
        f'from "{pg_schema}".campaigns '
        "where sync_status <> 'success' order by id",
    )
    assert rows == [
        ("campaign_3", "failed", None, 500),
        ("campaign_50", "failed", None, 500),
    ]
    assert _counts(pg_url, pg_schema) == (100, 100, 98)


def test_sync_disabled_rows_land_without_an_outcome(
    mock_api, pg_url, pg_schema, target_config
):
    # A read-only run's SCHEMA has no sync columns (so that it never nulls
    # an outcome a table already holds): a first load creates none.
    server = mock_api("calm")
    run = run_pipeline(tap_config(server.url, sync_mode="none"), target_config)
    assert run.tap_returncode == 0 and run.target_returncode == 0
    assert query(pg_url, f'select count(*) from "{pg_schema}".campaigns') == [(100,)]
    columns = query(
        pg_url,
        "select column_name from information_schema.columns "
        f"where table_schema = '{pg_schema}' and table_name = 'campaigns'",
    )
    assert not [c for (c,) in columns if c.startswith("sync")]
