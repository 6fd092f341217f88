"""The account's API object: the one place a call is sent (no network).

A scripted transport answers; the real retry policy runs the attempts (its
waits patched to zero), so what is retried, what is checked and what is
counted is the production path.
"""

from __future__ import annotations

import asyncio
import json
import logging
import typing as t

import pytest
import requests

from tap_mixoads.errors import APIRequestError, ShortReadError
from tap_mixoads.http import retry as retry_module
from tap_mixoads.http.api import AccountAPI
from tap_mixoads.http.retry import RetryPolicy
from tests.unit.fakes import API, response


class ScriptedTransport:
    """Answers each send with the next scripted (status, body)."""

    def __init__(self, answers: list[tuple[int, t.Any]]) -> None:
        self.answers = answers
        self.sent: list[requests.PreparedRequest] = []

    async def send(self, request: requests.PreparedRequest) -> requests.Response:
        self.sent.append(request)
        status, body = self.answers.pop(0)
        answer = response(status, body, method=request.method or "GET")
        answer.url = request.url or ""
        answer.request = request
        return answer


class Client:
    """What the API object reads of an account's client."""

    def __init__(self, transport: ScriptedTransport) -> None:
        self.transport = transport
        self.retry = RetryPolicy(
            max_tries=3, max_rate_limit_wait=60, logger=logging.getLogger("t")
        )


@pytest.fixture(autouse=True)
def no_waits(monkeypatch):
    monkeypatch.setattr(retry_module, "wait_for", lambda _exc, _attempt: 0.0)


def _api(answers: list[tuple[int, t.Any]], metrics: logging.Logger | None = None):
    transport = ScriptedTransport(answers)
    api = AccountAPI(
        client=Client(transport),  # type: ignore[arg-type]
        url_base=API,
        user_agent="tap-mixoads/test",
        stream_name="campaigns",
        metrics_logger=metrics or logging.getLogger("t.metrics"),
    )
    return api, transport


PAGE = {"data": [], "pagination": {"total": 0}}


def test_a_list_page_is_retried_and_checked_only_when_classified_good():
    checked = []
    api, transport = _api([(503, {"error": "x"}), (200, PAGE)])
    answer = asyncio.run(api.list_page(2, 50, check=checked.append))
    assert answer.status_code == 200
    assert len(transport.sent) == 2 and len(checked) == 1
    sent = transport.sent[-1]
    assert sent.url == f"{API}/api/campaigns?page=2&limit=50"
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["User-Agent"] == "tap-mixoads/test"


def test_a_page_the_check_refuses_is_sent_again():
    calls = []

    def check(answer: requests.Response) -> None:
        calls.append(answer)
        if len(calls) == 1:
            raise ShortReadError("page 1: it was empty", answer)

    api, transport = _api([(200, PAGE), (200, PAGE)])
    asyncio.run(api.list_page(1, 10, check=check))
    assert len(transport.sent) == 2 and len(calls) == 2


def test_a_sync_counts_its_attempts_and_a_4xx_is_final():
    attempts = []
    api, transport = _api([(500, {}), (200, {"success": True})])
    asyncio.run(api.sync_campaign("campaign/7", lambda: attempts.append(1)))
    assert len(attempts) == 2
    assert transport.sent[0].url == f"{API}/api/campaigns/campaign%2F7/sync"
    assert json.loads(transport.sent[0].body or b"{}") == {"campaign_id": "campaign/7"}
    api, transport = _api([(400, {"error": "bad"})])
    with pytest.raises(APIRequestError):
        asyncio.run(api.sync_campaign("campaign_1", lambda: None))
    assert len(transport.sent) == 1


def test_metrics_time_each_attempt_and_count_each_call(caplog):
    metrics = logging.getLogger("t.metrics.count")
    caplog.set_level(logging.INFO, logger=metrics.name)
    # The call counts go to the SDK's own metrics logger.
    caplog.set_level(logging.INFO, logger="singer_sdk.metrics")
    api, _ = _api([(503, {}), (200, PAGE), (200, {"success": True})], metrics)
    asyncio.run(api.list_page(1, 10, check=lambda _r: None))
    asyncio.run(api.sync_campaign("campaign_1", lambda: None))
    api.close()
    points = [
        json.loads(r.getMessage().split("METRIC: ", 1)[1])
        for r in caplog.records
        if "METRIC: " in r.getMessage()
    ]
    durations = [p for p in points if p["metric"] == "http_request_duration"]
    counts = {
        p["tags"]["endpoint"]: p["value"]
        for p in points
        if p["metric"] == "http_request_count"
    }
    assert len(durations) == 3  # every attempt, the 503 included
    assert counts == {"/api/campaigns": 1, "/api/campaigns/{id}/sync": 1}


@pytest.mark.parametrize(
    "campaign_id",
    ["c-1", "campaign/7", "a b", "100%", "é~x", "?#&=", "..", "ünï/çødé"],
)
@pytest.mark.parametrize(
    "url_base", ["http://127.0.0.1:8080", "https://api.example.com/v1"]
)
def test_a_sync_request_is_what_requests_prepares(url_base, campaign_id):
    from urllib.parse import quote

    from tap_mixoads.http.endpoints import SYNC_PATH, SyncRequests, prepare

    headers = {"Accept": "application/json", "User-Agent": "tap-mixoads/test"}
    fast = SyncRequests(url_base, headers=headers).build(campaign_id)
    slow = prepare(
        "POST",
        url_base + SYNC_PATH.format(id=quote(campaign_id, safe="")),
        json={"campaign_id": campaign_id},
        headers=headers,
    )
    if campaign_id == "..":
        # requests resolved the id away (POST /api/sync); it is escaped now.
        assert slow.url == f"{url_base}/api/sync"
        assert fast.url == f"{url_base}/api/campaigns/%2E%2E/sync"
    else:
        assert (fast.method, fast.url) == (slow.method, slow.url)
    assert list(fast.headers.items())[:-2] == list(slow.headers.items())[:-2]
    assert fast.headers["Content-Type"] == slow.headers["Content-Type"]
    assert fast.headers["Content-Length"] == str(len(fast.body))
    body = {"campaign_id": campaign_id}
    assert json.loads(fast.body) == json.loads(slow.body) == body
    # Each call has its own headers: the length of one is not the next one's.
    other = SyncRequests(url_base, headers=headers).build("x")
    assert fast.headers is not other.headers
