"""The syncer's judgement of platform 404s, and the paginator's bounded memory."""

from __future__ import annotations

import asyncio
import logging

import pytest
import requests

from tap_mixoads.extract import paginator as pagination
from tap_mixoads.extract.paginator import CampaignPaginator
from tap_mixoads.sync import judge
from tap_mixoads.sync.syncer import CampaignSyncer
from tests.unit.fakes import aiter_of, collect


def _platform_404(campaign_id: str) -> requests.Response:
    response = requests.Response()
    response.status_code = 404
    response.headers["Content-Type"] = "application/json"
    response._content = requests.compat.json.dumps(
        {"error": "Not Found", "message": f"Campaign {campaign_id} not found."}
    ).encode()
    return response


def _sync_all(syncer: CampaignSyncer, records: list[dict]) -> list[dict]:
    """Every record ``sync_all`` yields for ``records``, in the order it yields."""
    return asyncio.run(collect(syncer.sync_all(aiter_of(records))))


def _syncer_answering(not_found: set[str], failing: frozenset[str] = frozenset()):
    """A syncer whose calls answer the platform's 404, a 500 or a success."""

    async def send(campaign_id, on_attempt):
        on_attempt()
        if campaign_id in not_found:
            raise requests.HTTPError(response=_platform_404(campaign_id))
        if campaign_id in failing:
            response = requests.Response()
            response.status_code = 500
            response._content = b'{"error": "Sync failed"}'
            raise requests.HTTPError(response=response)
        response = requests.Response()
        response.status_code = 200
        response._content = requests.compat.json.dumps(
            {"success": True, "synced_at": "2024-12-11T10:30:00.000Z"}
        ).encode()
        return response

    return CampaignSyncer(send=send, concurrency=1, logger=logging.getLogger("t"))


def test_the_dedup_memory_is_bounded(monkeypatch):
    # The paginator remembers at most MAX_REMEMBERED_IDS ids (a sliding
    # window): memory stays flat however long the list is.
    monkeypatch.setattr(pagination, "MAX_REMEMBERED_IDS", 25)
    paginator = CampaignPaginator(page_size=10, logger=logging.getLogger("t"))
    for page in range(1, 21):
        response = requests.Response()
        response.status_code = 200
        rows = [{"id": f"c{i}"} for i in range((page - 1) * 10, page * 10)]
        response._content = requests.compat.json.dumps(
            {"data": rows, "pagination": {"total": 200}}
        ).encode()
        assert len(paginator.take_page(response).rows) == 10
        if page < 20:
            paginator.advance(response)
        assert len(paginator._seen) <= 25
        assert len(paginator._seen_order) <= 25
    assert paginator.received == 200


def test_platform_404s_for_most_campaigns_mean_the_route_is_missing():
    # The platform's own JSON 404 for every campaign: "not found" for all of
    # them says the route (or the account) is wrong, not that no campaign
    # exists. Syncing stops; no record is dropped.
    sent = []

    async def send(campaign_id, on_attempt):
        on_attempt()
        sent.append(campaign_id)
        raise requests.HTTPError(response=_platform_404(campaign_id))

    syncer = CampaignSyncer(
        send=send,
        concurrency=1,
        logger=logging.getLogger("t"),
    )
    records = [{"id": f"campaign_{i}"} for i in range(1, 31)]
    out = _sync_all(syncer, records)
    assert sorted(r["id"] for r in out) == sorted(r["id"] for r in records)
    assert syncer.route_missing is not None
    assert (
        "10 of 10 campaigns answered the platform's 404 and none synced"
        in syncer.route_missing
    )
    assert sent == [f"campaign_{i}" for i in range(1, 11)]
    by_id = {r["id"]: r["sync_status"] for r in out}
    assert {by_id[f"campaign_{i}"] for i in range(1, 11)} == {"failed"}
    assert {by_id[f"campaign_{i}"] for i in range(11, 31)} == {"deferred"}


@pytest.mark.parametrize(
    ("min_404s", "misfires"),
    [
        pytest.param(judge.MIN_404S_FOR_MISSING_ROUTE, False, id="now"),
        # The rule before: 3 platform 404s and more 404s than successes.
        pytest.param(3, True, id="without-the-fix"),
    ],
)
def test_platform_404s_at_the_head_of_the_list_are_not_a_missing_route(
    monkeypatch, min_404s, misfires
):
    # campaign_1..3 were deleted since the listing; the route works.
    monkeypatch.setattr(judge, "MIN_404S_FOR_MISSING_ROUTE", min_404s)
    monkeypatch.setattr(judge, "MISSING_ROUTE_SHARE", 0.5 if misfires else 2 / 3)
    syncer = _syncer_answering({"campaign_1", "campaign_2", "campaign_3"})
    out = _sync_all(syncer, [{"id": f"campaign_{i}"} for i in range(1, 21)])
    if misfires:
        assert syncer.route_missing is not None
        return
    assert syncer.route_missing is None
    assert sorted(r["id"] for r in out) == sorted(f"campaign_{i}" for i in range(4, 21))
    assert {r["sync_status"] for r in out} == {"success"}
    assert "dropped 3 listed campaigns the platform does not know (404): " in (
        syncer.summary()
    )


def test_platform_404s_for_a_clear_majority_with_failures_mean_a_missing_route():
    # 12 platform 404s and 3 failures, no success: the route, not the campaigns.
    syncer = _syncer_answering(
        {f"campaign_{i}" for i in range(1, 13)},
        failing=frozenset({"campaign_13", "campaign_14", "campaign_15"}),
    )
    order = [f"campaign_{i}" for i in (13, 14, 15, *range(1, 13))]
    out = _sync_all(syncer, [{"id": cid} for cid in order])
    assert syncer.route_missing is not None
    assert "10 of 13 campaigns answered the platform's 404" in syncer.route_missing
    assert len(out) == 15  # every record kept


def test_platform_404s_short_of_a_clear_majority_are_campaigns():
    # 10 platform 404s but 10 failures too: not a clear majority, so those
    # campaigns are missing, not the route; with no success they are kept.
    syncer = _syncer_answering(
        {f"campaign_{i}" for i in range(11, 21)},
        failing=frozenset(f"campaign_{i}" for i in range(1, 11)),
    )
    out = _sync_all(syncer, [{"id": f"campaign_{i}"} for i in range(1, 21)])
    assert syncer.route_missing is None
    assert len(out) == 20
    assert {r["sync_http_status"] for r in out} == {404, 500}


def test_one_platform_404_among_successes_drops_only_that_campaign():
    async def send(campaign_id, on_attempt):
        on_attempt()
        if campaign_id == "campaign_7":
            raise requests.HTTPError(response=_platform_404(campaign_id))
        response = requests.Response()
        response.status_code = 200
        response._content = requests.compat.json.dumps(
            {"success": True, "synced_at": "2024-12-11T10:30:00.000Z"}
        ).encode()
        return response

    syncer = CampaignSyncer(send=send, concurrency=1, logger=logging.getLogger("t"))
    out = _sync_all(syncer, [{"id": f"campaign_{i}"} for i in range(1, 21)])
    assert len(out) == 19 and "campaign_7" not in [r["id"] for r in out]
    assert syncer.route_missing is None
