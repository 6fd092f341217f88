"""What a run says about itself: time_extracted per page, metrics per endpoint."""

from __future__ import annotations

import datetime
import json

from tests.helpers import run_tap, tap_config


def _when(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_time_extracted_is_when_the_records_page_arrived(mock_api):
    # One sync at a time, 0.3 s each: page 1's last record waits ~3 s for
    # its sync before it is written. Its time_extracted is still page 1's.
    server = mock_api("calm", sync_delay=0.3, campaigns=20)
    run = run_tap(tap_config(server.url, page_size=10, sync_concurrency=1))
    assert run.returncode == 0, run.stderr[-2000:]
    messages = [
        m for m in run.messages if m["type"] == "RECORD" and m["stream"] == "campaigns"
    ]
    by_id = {m["record"]["id"]: m for m in messages}
    page1 = {by_id[f"campaign_{i}"]["time_extracted"] for i in range(1, 11)}
    page2 = {by_id[f"campaign_{i}"]["time_extracted"] for i in range(11, 21)}
    assert len(page1) == 1 and len(page2) == 1, (page1, page2)
    (first,), (second,) = page1, page2
    assert _when(first) < _when(second)
    # Extracted before the first of its page's syncs answered, although the
    # record itself was written after the tenth.
    synced_first = _when(by_id["campaign_1"]["record"]["synced_at"])
    assert _when(first) < synced_first
    assert _when(by_id["campaign_10"]["time_extracted"]) < synced_first


def _metrics(stderr: str) -> list[dict]:
    points = []
    for line in stderr.splitlines():
        if "METRIC: " in line:
            points.append(json.loads(line.split("METRIC: ", 1)[1]))
    return points


def test_every_http_metric_names_the_endpoint_really_called(mock_api):
    server = mock_api("calm", sync_delay=0.01, campaigns=30)
    run = run_tap(tap_config(server.url, page_size=10, sync_concurrency=4))
    assert run.returncode == 0, run.stderr[-2000:]
    points = _metrics(run.stderr)
    durations: dict[str, int] = {}
    counts: dict[str, int] = {}
    for point in points:
        endpoint = point["tags"].get("endpoint")
        if point["metric"] == "http_request_duration":
            durations[endpoint] = durations.get(endpoint, 0) + 1
        if point["metric"] == "http_request_count":
            counts[endpoint] = counts.get(endpoint, 0) + point["value"]
    requests = server.stats()["requests"]
    # One duration per call, under the endpoint it went to.
    assert durations == {
        "/api/campaigns": requests["GET /api/campaigns"],
        "/api/campaigns/{id}/sync": requests["POST /api/campaigns/{id}/sync"],
    }
    # The counts add up to the calls the run made (3 pages + 30 syncs).
    assert counts == {"/api/campaigns": 3, "/api/campaigns/{id}/sync": 30}
