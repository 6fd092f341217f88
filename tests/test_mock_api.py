"""The mock Ad Platform API, over real sockets, one behaviour per test."""

from __future__ import annotations

import concurrent.futures
import json
import time
from datetime import datetime

import orjson
import pytest
import requests

from mock_api import campaigns
from mock_api.__main__ import config_from_args, parse_args
from mock_api.accounts import account_client_id, account_credentials
from mock_api.config import ConfigError, build
from mock_api.testing import MockServer
from tests.helpers import DEMO_EMAIL, DEMO_PASSWORD

# One pytest-xdist worker runs the module: one server process for all of it.
pytestmark = [pytest.mark.timeout(60), pytest.mark.xdist_group("test_mock_api")]

CREDS = (DEMO_EMAIL, DEMO_PASSWORD)
T = 5  # client timeout for calls that are expected to answer


@pytest.fixture(scope="module")
def _server():
    with MockServer(profile="calm", seed=7) as server:
        yield server, server.config()


@pytest.fixture
def server(_server):
    """The shared calm server, reset before and its knobs restored after."""
    srv, initial = _server
    srv.reset()
    yield srv
    srv.configure(**initial)


def token(server: MockServer, creds: tuple[str, str] = CREDS) -> str:
    resp = requests.post(server.url + "/auth/token", auth=creds, timeout=T)
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def bearer(
    server: MockServer, client: str | None = None, creds: tuple[str, str] = CREDS
) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token(server, creds)}"}
    if client:
        headers["X-Client-ID"] = client
    return headers


def get_page(server: MockServer, headers: dict[str, str], **params):
    return requests.get(
        server.url + "/api/campaigns", params=params, headers=headers, timeout=T
    )


# --- auth -------------------------------------------------------------------


def test_token_issued(server):
    before = int(time.time())
    resp = requests.post(server.url + "/auth/token", auth=CREDS, timeout=T)
    body = resp.json()
    assert resp.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert before - 1 <= body["issued_at"] <= time.time()
    assert isinstance(body["issued_at"], int)
    assert server.tokens() == [body["access_token"]]
    assert server.stats()["tokens_issued"] == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic YWRtaW5AbWl4b2Fkcy5jb206d3Jvbmc="},  # wrong pw
    ],
)
def test_token_rejected(server, headers):
    resp = requests.post(server.url + "/auth/token", headers=headers, timeout=T)
    assert resp.status_code == 401
    assert set(resp.json()) >= {"error", "message"}
    assert server.tokens() == []


@pytest.mark.parametrize(
    "auth", [None, "Bearer", "Basic abc", "Bearer not-a-token", "token abc"]
)
def test_api_needs_valid_bearer(server, auth):
    headers = {"Authorization": auth} if auth else {}
    resp = get_page(server, headers)
    assert resp.status_code == 401
    assert resp.json()["error"] == "Unauthorized"


def test_token_expires(server):
    server.configure(token_ttl=1)
    headers = bearer(server)
    assert get_page(server, headers).status_code == 200
    time.sleep(1.1)
    resp = get_page(server, headers)
    assert resp.status_code == 401
    body = resp.json()
    assert body["error"] == "Token expired"
    expired = datetime.fromisoformat(body["expired_at"].replace("Z", "+00:00"))
    assert abs(expired.timestamp() - time.time()) < 2


def test_token_error_fault(server):
    server.configure(token_error_rate=1.0)
    resp = requests.post(server.url + "/auth/token", auth=CREDS, timeout=T)
    assert resp.status_code == 503
    assert server.stats()["faults"]["token_error"] == 1


# --- listing ------------------------------------------------------------------


def test_campaign_records(server):
    headers = bearer(server)
    first = get_page(server, headers).json()
    second = get_page(server, headers).json()
    assert first["pagination"] == {
        "page": 1,
        "limit": 10,
        "total": 100,
        "has_more": True,
    }
    c1 = first["data"][0]
    assert c1["id"] == "campaign_1" and c1["name"] == "Campaign 1"
    assert c1["budget"] == 1100
    assert [c["status"] for c in first["data"][:4]] == [
        "active",
        "paused",
        "completed",
        "active",
    ]
    for rec in first["data"]:
        assert rec["conversions"] <= rec["clicks"] <= rec["impressions"]
        assert rec["created_at"].endswith("Z") and len(rec["created_at"]) == 24
    assert [r["created_at"] for r in first["data"]] == [
        r["created_at"] for r in second["data"]
    ]
    metrics = [(r["impressions"], r["clicks"]) for r in first["data"]]
    assert metrics != [(r["impressions"], r["clicks"]) for r in second["data"]]


@pytest.mark.parametrize(
    "params", [{"page": "0"}, {"page": "x"}, {"limit": "0"}, {"limit": "1.5"}]
)
def test_bad_page_params(server, params):
    resp = get_page(server, bearer(server), **params)
    assert resp.status_code == 400
    assert "error" in resp.json()


def test_limit_capped(server):
    server.configure(max_limit=5)
    body = get_page(server, bearer(server), limit=50).json()
    assert len(body["data"]) == 5
    assert body["pagination"]["limit"] == 5


def test_pagination_with_vendor_quirks(server):
    server.configure(campaigns=25, vendor_quirks=True)
    h = bearer(server)
    last = get_page(server, h, page=3).json()
    assert [r["id"] for r in last["data"]][-1] == "campaign_25"
    assert last["pagination"]["has_more"] is False
    past = get_page(server, h, page=4).json()
    assert [r["id"] for r in past["data"]][:2] == ["campaign_31", "campaign_32"]
    assert len(past["data"]) == 10
    # has_more is computed as if limit were 10: lies both ways.
    assert get_page(server, h, limit=100).json()["pagination"]["has_more"] is True
    assert get_page(server, h, limit=7, page=3).json()["pagination"]["has_more"] is (
        False
    )
    assert len(get_page(server, h, limit=7, page=4).json()["data"]) == 4


def test_pagination_without_quirks(server):
    server.configure(campaigns=25, vendor_quirks=False)
    h = bearer(server)
    past = get_page(server, h, page=4).json()
    assert past["data"] == [] and past["pagination"]["has_more"] is False
    assert get_page(server, h, limit=100).json()["pagination"]["has_more"] is False
    assert get_page(server, h, limit=7, page=3).json()["pagination"]["has_more"]


def test_million_campaigns_big_page_is_fast(server):
    server.configure(campaigns=1_000_000)
    h = bearer(server)
    started = time.perf_counter()
    resp = get_page(server, h, page=50, limit=10_000)
    elapsed = time.perf_counter() - started
    body = resp.json()
    assert len(body["data"]) == 10_000
    assert body["data"][0]["id"] == "campaign_490001"
    assert body["pagination"]["total"] == 1_000_000
    assert elapsed < 1.0


# --- rate limiting ---------------------------------------------------------


def test_rate_limit_with_header_and_body(server):
    server.configure(rate_limit=3, rate_window=2)
    h = bearer(server)
    assert [get_page(server, h).status_code for _ in range(3)] == [200] * 3
    resp = get_page(server, h)
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "2"
    assert resp.json()["error"] == "Rate limit exceeded"
    assert resp.json()["retry_after"] == 2
    stats = server.stats()
    assert stats["rate_limited"] == 1 and stats["statuses"]["429"] == 1
    assert stats["max_in_window"] == 4


def test_rate_limit_without_header_or_body(server):
    server.configure(rate_limit=1, retry_after_header=False, retry_after_body=False)
    h = bearer(server)
    get_page(server, h)
    resp = get_page(server, h)
    assert resp.status_code == 429
    assert "Retry-After" not in resp.headers
    assert "retry_after" not in resp.json()


def test_retry_after_exact(server):
    server.configure(rate_limit=1, rate_window=3, retry_after_mode="exact")
    h = bearer(server)
    get_page(server, h)
    time.sleep(1.2)
    resp = get_page(server, h)
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "2"


def test_rate_limit_per_client_id(server):
    server.configure(rate_limit=2, rate_window=30)
    a, b = bearer(server, "a"), bearer(server, "b")
    assert [get_page(server, a).status_code for _ in range(3)] == [200, 200, 429]
    assert get_page(server, b).status_code == 200
    anon = bearer(server)
    assert [get_page(server, anon).status_code for _ in range(3)] == [200, 200, 429]
    times = server.stats()["api_request_times"]
    assert (len(times["a"]), len(times["b"]), len(times["default"])) == (3, 1, 3)


def test_errors_count_and_429_comes_before_auth(server):
    server.configure(rate_limit=2, rate_window=30)
    assert get_page(server, {}).status_code == 401
    assert get_page(server, {}).status_code == 401
    assert get_page(server, {}).status_code == 429  # before the auth check
    assert get_page(server, bearer(server)).status_code == 429


@pytest.mark.parametrize(("count_rejected", "third"), [(True, 429), (False, 200)])
def test_count_rejected(server, count_rejected, third):
    server.configure(rate_limit=1, rate_window=1, count_rejected=count_rejected)
    h = bearer(server)
    assert get_page(server, h).status_code == 200
    time.sleep(0.6)
    assert get_page(server, h).status_code == 429
    time.sleep(0.5)  # the first call has left the window, the 429 has not
    assert get_page(server, h).status_code == third


def test_rate_limit_zero_is_unlimited(server):
    server.configure(rate_limit=0, rate_window=30)
    h = bearer(server)
    assert {get_page(server, h).status_code for _ in range(15)} == {200}
    assert server.stats()["max_in_window"] == 15


# --- sync -------------------------------------------------------------------


def sync(server, headers, cid, timeout=T):
    return requests.post(
        f"{server.url}/api/campaigns/{cid}/sync",
        json={"campaign_id": cid},
        headers=headers,
        timeout=timeout,
    )


def test_sync_delay_and_concurrency(server):
    server.configure(sync_delay=0.5)
    h = bearer(server)
    ids = [f"campaign_{i}" for i in range(1, 5)]
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda cid: sync(server, h, cid), ids))
    elapsed = time.perf_counter() - started
    assert 0.5 <= elapsed < 1.5
    body = answers[0].json()
    assert body["success"] is True and body["campaign_id"] == "campaign_1"
    assert body["message"] == "Campaign data synced successfully"
    stats = server.stats()
    assert stats["max_concurrent_syncs"] == 4
    assert stats["concurrent_syncs"] == 0
    assert stats["sync_success"] == dict.fromkeys(ids, 1)
    assert stats["requests"]["POST /api/campaigns/{id}/sync"] == 4


def test_sync_failures(server):
    server.configure(sync_fail_ids="campaign_3,7")
    h = bearer(server)
    assert sync(server, h, "campaign_3").status_code == 500
    assert sync(server, h, "campaign_7").json()["error"] == "Sync failed"
    assert sync(server, h, "campaign_101").status_code == 404  # phantom id
    assert sync(server, h, "nope").status_code == 404
    stats = server.stats()
    assert stats["sync_calls"]["campaign_3"] == 1
    assert stats["sync_success"] == {}


# --- transport faults -------------------------------------------------------


def test_hang_times_out_client(server):
    server.configure(hang_rate=1.0, hang_seconds=30)
    h = bearer(server)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(server.url + "/api/campaigns", headers=h, timeout=0.5)
    assert server.stats()["faults"]["hang"] == 1


def test_hang_ends_with_closed_connection(server):
    server.configure(hang_rate=1.0, hang_seconds=0.3)
    h = bearer(server)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(server.url + "/api/campaigns", headers=h, timeout=T)


def test_error_rate_503_on_list_only(server):
    server.configure(error_rate=1.0)
    h = bearer(server)
    resp = get_page(server, h)
    assert resp.status_code == 503 and "error" in resp.json()
    assert sync(server, h, "campaign_1").status_code == 200
    server.configure(sync_error_rate=1.0)
    assert sync(server, h, "campaign_1").status_code == 503
    assert server.stats()["faults"]["error_503"] == 2


def test_html_500(server):
    server.configure(html_500_rate=1.0)
    resp = get_page(server, bearer(server))
    assert resp.status_code == 500
    assert resp.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        resp.json()


def test_reset_mid_response(server):
    server.configure(reset_rate=1.0)
    h = bearer(server)
    with pytest.raises(
        (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)
    ):
        get_page(server, h)
    assert server.stats()["faults"]["reset"] == 1


def test_truncated_json(server):
    server.configure(truncated_json_rate=1.0)
    resp = get_page(server, bearer(server))
    assert resp.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.text)


def test_slow_body(server):
    server.configure(slow_body_rate=1.0, slow_body_seconds=0.5)
    started = time.perf_counter()
    resp = get_page(server, bearer(server))
    assert time.perf_counter() - started >= 0.4
    assert len(resp.json()["data"]) == 10


# --- data faults ------------------------------------------------------------


def test_data_faults(server):
    h = bearer(server)
    server.configure(missing_field_rate=1.0)
    for rec in get_page(server, h).json()["data"]:
        assert "id" in rec and len(rec) == 7
    server.configure(missing_field_rate=0, wrong_type_rate=1.0)
    for rec in get_page(server, h).json()["data"]:
        numeric = ("budget", "impressions", "clicks", "conversions")
        assert any(isinstance(rec[k], str) for k in numeric)
    server.configure(wrong_type_rate=0, extra_field_rate=1.0)
    assert all(r["promo_code"] for r in get_page(server, h).json()["data"])
    server.configure(extra_field_rate=0, total_drift=3)
    totals = {get_page(server, h).json()["pagination"]["total"] for _ in range(8)}
    assert len(totals) > 1 and all(97 <= t <= 103 for t in totals)


# --- control endpoints, logs, health ----------------------------------------


def test_stats_reset_and_config(server):
    get_page(server, bearer(server))
    stats = server.stats()
    assert stats["requests"] == {"POST /auth/token": 1, "GET /api/campaigns": 1}
    assert stats["statuses"] == {"200": 2}
    server.reset()
    cleared = server.stats()
    assert cleared["requests"] == {} and cleared["api_request_times"] == {}
    assert server.tokens() == []
    assert server.configure(rate_limit=4)["rate_limit"] == 4
    assert server.config()["rate_limit"] == 4
    for bad in ({"no_such_knob": 1}, {"error_rate": 2}, {"rate_limit": "x"}):
        resp = requests.post(server.url + "/_mock/config", json=bad, timeout=T)
        assert resp.status_code == 400


def test_tokens_never_logged(server):
    h = bearer(server)
    get_page(server, h)
    sync(server, h, "campaign_1")
    get_page(server, {"Authorization": "Bearer leaked-bad-token"})
    logs = server.logs()
    assert "listening on" in logs
    for value in [*server.tokens(), "leaked-bad-token", "Authorization"]:
        assert value not in logs


def test_health(server):
    body = requests.get(server.url + "/health", timeout=T).json()
    assert body["status"] == "ok" and body["uptime"] > 0
    assert body["timestamp"].endswith("Z")


# --- configuration without sockets -----------------------------------------


def test_profiles():
    vendor, fast, calm, chaos = (build(p) for p in ("vendor", "fast", "calm", "chaos"))
    assert (vendor.rate_limit, vendor.rate_window, vendor.error_rate) == (10, 60, 0.2)
    assert (vendor.hang_rate, vendor.sync_delay, vendor.token_ttl) == (0.1, 2.0, 3600)
    assert (fast.rate_window, fast.hang_seconds, fast.token_ttl) == (3, 30, 20)
    assert calm.rate_limit == 0 and calm.error_rate == 0 and not calm.vendor_quirks
    assert chaos.reset_rate == 0.05 and chaos.total_drift == 3
    assert chaos.token_ttl == 5 and chaos.rate_window == 3
    with pytest.raises(ConfigError):
        build("nope")


def test_cli_env_and_flags(monkeypatch):
    monkeypatch.setenv("MOCK_API_RATE_LIMIT", "7")
    monkeypatch.setenv("MOCK_API_EMAIL", "x@y.z")
    monkeypatch.setenv("MOCK_API_SYNC_FAIL_IDS", "1,campaign_2")
    cfg = config_from_args(parse_args(["--profile", "fast", "--error-rate", "0.5"]))
    assert (cfg.rate_limit, cfg.email, cfg.error_rate) == (7, "x@y.z", 0.5)
    assert cfg.sync_fail_ids == ("campaign_1", "campaign_2")
    args = parse_args(["--rate-limit", "3", "--set", "rate_limit=4", "--set", "seed=1"])
    cfg = config_from_args(args)
    assert (cfg.rate_limit, cfg.seed, cfg.password) == (4, 1, DEMO_PASSWORD)
    with pytest.raises(ConfigError):
        config_from_args(parse_args(["--set", "bogus=1"]))


def test_has_more_quirk_math():
    assert campaigns.has_more(10, 10, 100, quirks=True) is False
    assert campaigns.has_more(1, 100, 100, quirks=True) is True
    assert campaigns.has_more(1, 100, 100, quirks=False) is False


def test_default_harness_runs_fast_profile():
    with MockServer(seed=1, rate_limit=2) as server:
        assert server.url.startswith("http://127.0.0.1:")
        cfg = server.config()
        assert (cfg["rate_window"], cfg["rate_limit"], cfg["seed"]) == (3, 2, 1)
        assert "(profile fast)" in server.logs()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(server.url + "/health", timeout=T)


# --- many accounts ----------------------------------------------------------


def test_account_helpers():
    assert account_credentials(1) == CREDS
    assert account_credentials(3) == ("client3@mixoads.com", "Secret-3-Pass!")
    assert (account_client_id(1), account_client_id(12)) == ("client-1", "client-12")
    with pytest.raises(ValueError):
        account_credentials(0)


def test_each_account_lists_its_own_campaigns(server):
    server.configure(accounts=3)
    names = {}
    for k in (1, 2, 3):
        h = bearer(server, account_client_id(k), account_credentials(k))
        rows = get_page(server, h, page=1).json()["data"]
        names[k] = (rows[6]["id"], rows[6]["name"], rows[6]["budget"])
    assert names[1] == ("campaign_7", "Campaign 7", 1700)
    assert names[2] == ("campaign_7", "Campaign 7 (acct 2)", 1702)
    assert names[3] == ("campaign_7", "Campaign 7 (acct 3)", 1703)
    clients = server.client_stats()
    assert clients["client-3"]["accounts"] == {"3": 1}
    assert clients["client-1"]["accounts"] == {"1": 1}


@pytest.mark.parametrize(
    "creds",
    [
        account_credentials(4),  # beyond accounts=3
        ("client2@mixoads.com", "Secret-3-Pass!"),  # another account's password
        ("client1@mixoads.com", "Secret-1-Pass!"),  # account 1 is the demo one
    ],
)
def test_account_login_rejected(server, creds):
    server.configure(accounts=3)
    resp = requests.post(server.url + "/auth/token", auth=creds, timeout=T)
    assert resp.status_code == 401
    assert server.tokens() == []


def test_accounts_flag():
    assert config_from_args(parse_args(["--accounts", "5"])).accounts == 5
    assert build("vendor").accounts == 1
    with pytest.raises(ConfigError):
        build("vendor", {"accounts": 0})


# --- per-client stats -------------------------------------------------------


def test_client_stats(server):
    server.configure(rate_limit=3, rate_window=30)
    a, b = bearer(server, "a"), bearer(server, "b")
    assert [get_page(server, a).status_code for _ in range(4)] == [200] * 3 + [429]
    for cid in ("campaign_1", "campaign_2", "campaign_3"):
        assert sync(server, b, cid).status_code == 200
    stats = server.stats()
    assert stats["rate_limited"] == 1 and stats["max_in_window"] == 4
    assert stats["sync_calls"] == dict.fromkeys(["campaign_1", "campaign_2"], 1) | {
        "campaign_3": 1
    }
    one = server.client_stats("a")
    assert (one["requests"], one["accepted"], one["rate_limited"]) == (4, 3, 1)
    assert one["max_in_window"] == 3 and one["sync_calls"] == {}
    other = server.client_stats("b")
    assert other["sync_calls"] == {"campaign_1": 1, "campaign_2": 1, "campaign_3": 1}
    assert (other["requests"], other["rate_limited"]) == (3, 0)
    assert server.client_stats("nobody")["requests"] == 0


def test_client_busiest_window_slides(server):
    server.configure(rate_limit=0, rate_window=0.5)
    h = bearer(server, "w")
    for _ in range(3):
        get_page(server, h)
    time.sleep(0.6)
    for _ in range(2):
        get_page(server, h)
    assert server.client_stats("w")["max_in_window"] == 3
    assert server.client_stats("w")["accepted"] == 5


# --- page-level faults ------------------------------------------------------


def ids(resp) -> list[str]:
    return [row["id"] for row in resp.json()["data"]]


def test_page_fault_empty_after(server):
    server.configure(page_fault="empty_after", page_fault_page=2)
    h = bearer(server)
    assert ids(get_page(server, h, page=2))[0] == "campaign_11"
    body = get_page(server, h, page=3).json()
    assert body["data"] == []
    assert body["pagination"]["total"] == 100 and body["pagination"]["page"] == 3
    assert server.stats()["faults"]["page_fault"] == 1


@pytest.mark.parametrize(
    ("kind", "shape"), [("non_list", None), ("non_list_object", dict)]
)
def test_page_fault_non_list(server, kind, shape):
    server.configure(page_fault=kind, page_fault_page=2)
    h = bearer(server)
    assert len(ids(get_page(server, h, page=1))) == 10
    data = get_page(server, h, page=2).json()["data"]
    assert data is None if shape is None else isinstance(data, shape)
    assert len(ids(get_page(server, h, page=3))) == 10


def test_page_fault_duplicate_page(server):
    server.configure(page_fault="duplicate_page", page_fault_page=3)
    h = bearer(server)
    page2 = ids(get_page(server, h, page=2))
    page3 = get_page(server, h, page=3).json()
    assert [r["id"] for r in page3["data"]] == page2
    assert page3["pagination"]["page"] == 3
    assert ids(get_page(server, h, page=4))[0] == "campaign_31"


def test_page_fault_ignore_page(server):
    server.configure(page_fault="ignore_page")
    h = bearer(server)
    body = get_page(server, h, page=5, limit=4).json()
    assert [r["id"] for r in body["data"]] == [f"campaign_{i}" for i in range(1, 5)]
    assert body["pagination"]["page"] == 1


def test_page_fault_heals_after_times(server):
    server.configure(page_fault="non_list", page_fault_page=2, page_fault_times=2)
    h = bearer(server)
    assert get_page(server, h, page=2).json()["data"] is None
    assert get_page(server, h, page=2).json()["data"] is None
    assert ids(get_page(server, h, page=2))[0] == "campaign_11"
    server.configure(page_fault_times=1)  # a new fault: the count restarts
    assert get_page(server, h, page=2).json()["data"] is None
    assert ids(get_page(server, h, page=2))[0] == "campaign_11"


def test_pad_last_page_with_phantoms(server):
    server.configure(campaigns=25, vendor_quirks=False, pad_last_page=True)
    h = bearer(server)
    body = get_page(server, h, page=3).json()
    assert [r["id"] for r in body["data"]] == [f"campaign_{i}" for i in range(21, 31)]
    assert body["pagination"]["total"] == 25
    assert get_page(server, h, page=4).json()["data"] == []
    phantom = sync(server, h, "campaign_26")
    assert phantom.status_code == 404
    assert phantom.json() == {
        "error": "Not Found",
        "message": "Campaign campaign_26 not found.",
    }


def test_repeat_campaign_on_a_later_page(server):
    assert server.configure(repeat_campaign="5@7")["repeat_campaign"] == [
        "campaign_5@7"
    ]
    h = bearer(server)
    page7 = get_page(server, h, page=7).json()
    expected = [f"campaign_{i}" for i in range(61, 70)] + ["campaign_5"]
    assert [r["id"] for r in page7["data"]] == expected
    assert page7["data"][-1]["name"] == "Campaign 5"
    assert page7["pagination"]["total"] == 100
    assert ids(get_page(server, h, page=1))[4] == "campaign_5"
    for bad in ("5", "5@x", "5@0", "@3"):
        resp = requests.post(
            server.url + "/_mock/config", json={"repeat_campaign": bad}, timeout=T
        )
        assert resp.status_code == 400, bad


# --- sync faults ------------------------------------------------------------


def test_sync_route_missing_is_not_the_platform_404(server):
    h = bearer(server)
    platform = sync(server, h, "campaign_999")
    assert platform.status_code == 404
    assert platform.json()["error"] == "Not Found"
    server.configure(sync_route_missing=True)
    proxy = sync(server, h, "campaign_1")
    assert proxy.status_code == 404
    assert proxy.headers["Content-Type"].startswith("text/html")
    assert "Cannot POST /api/campaigns/campaign_1/sync" in proxy.text
    with pytest.raises(ValueError):
        proxy.json()
    assert server.stats()["sync_success"] == {}


def test_sync_down(server):
    server.configure(sync_down=True)
    h = bearer(server)
    resp = sync(server, h, "campaign_1")
    assert resp.status_code == 503
    assert resp.json()["error"] == "Service Unavailable"
    assert get_page(server, h).status_code == 200


# --- bad values -------------------------------------------------------------


def test_bad_values(server):
    server.configure(bad_values="nul,bigint,bigstring,longid,dotdot,surrogate")
    resp = get_page(server, bearer(server))
    assert b"\\ud800" in resp.content
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(resp.content)
    rows = json.loads(resp.text)["data"]  # the stdlib lets lone surrogates through
    assert rows[0] == {**rows[0], "id": "campaign_1", "name": "Campaign 1"}
    assert rows[1]["name"] == "Campaign\x00 2"
    assert rows[2]["impressions"] == 2**63
    assert (rows[3]["budget"], rows[4]["budget"]) == ("1e30", "1234567890" * 3)
    assert len(rows[5]["id"]) == 10 * 1024 and rows[5]["id"].startswith("campaign_6")
    assert (rows[6]["id"], rows[7]["id"]) == ("..", "a/../b")
    assert rows[8]["name"] == "Campaign\ud800 9"
    assert rows[9]["name"] == "Campaign 10"
    h = bearer(server)
    long_sync = sync(server, h, rows[5]["id"])  # fits the server's request line
    assert long_sync.status_code == 404 and long_sync.json()["error"] == "Not Found"


def test_bad_values_only_where_asked(server):
    server.configure(bad_values=["bigint"])
    rows = get_page(server, bearer(server)).json()["data"]
    assert rows[2]["impressions"] == 2**63
    assert rows[1]["name"] == "Campaign 2" and rows[5]["id"] == "campaign_6"
    resp = requests.post(
        server.url + "/_mock/config", json={"bad_values": "nope"}, timeout=T
    )
    assert resp.status_code == 400


def test_raw_bad_values(server):
    server.configure(bad_values="int64low,bigstring53,deep")
    resp = get_page(server, bearer(server), limit=20)
    assert b'"clicks":-9223372036854775809' in resp.content
    assert b"[" * 5000 in resp.content
    with pytest.raises(orjson.JSONDecodeError):  # past orjson's depth limit
        orjson.loads(resp.content)
    with pytest.raises(RecursionError):  # and past the standard library's
        json.loads(resp.content)
    head = resp.content.split(b'"name":' + b"[" * 5000)[0]
    assert b'"budget":"9007199254740993"' in head
    assert b'"id":"campaign_12"' in head


def test_nul_in_sync_error(server):
    server.configure(bad_values="nul_sync_error")
    h = bearer(server)
    resp = sync(server, h, "campaign_10")
    assert resp.status_code == 500
    assert b"\\u0000" in resp.content
    assert "\x00" in resp.json()["message"]
    assert sync(server, h, "campaign_9").status_code == 200


# --- slow steady body -------------------------------------------------------


def test_slow_steady_body_beats_read_timeouts(server):
    server.configure(
        slow_steady_body=True, slow_steady_bytes_per_second=4, slow_steady_seconds=1.5
    )
    h = bearer(server)
    started = time.perf_counter()
    resp = requests.get(
        server.url + "/api/campaigns", headers=h, stream=True, timeout=(T, 1.0)
    )
    length = int(resp.headers["Content-Length"])
    got = b""
    with pytest.raises(
        (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)
    ):
        for chunk in resp.iter_content(1):
            got += chunk
    elapsed = time.perf_counter() - started
    assert 1.3 <= elapsed < 5  # no read timeout fired, the server gave up
    assert 2 <= len(got) <= 12 < length
    assert server.stats()["faults"]["slow_steady"] == 1


# --- token amnesia ----------------------------------------------------------


def test_forget_tokens(server):
    old = bearer(server)
    assert get_page(server, old).status_code == 200
    assert server.forget_tokens() == 1
    resp = get_page(server, old)
    assert resp.status_code == 401
    assert resp.json()["error"] == "Invalid token"
    fresh = bearer(server)
    assert get_page(server, fresh).status_code == 200
    assert len(server.tokens()) == 2


def test_token_amnesia_by_age(server):
    server.configure(token_amnesia=True, token_amnesia_after=0.5)
    h = bearer(server)
    assert get_page(server, h).status_code == 200
    time.sleep(0.6)
    resp = get_page(server, h)
    assert resp.status_code == 401
    assert resp.json()["error"] == "Invalid token"
    assert "expired_at" not in resp.json()
    assert get_page(server, bearer(server)).status_code == 200


# --- long Retry-After and forced 429 ----------------------------------------


def test_retry_after_seconds_override(server):
    server.configure(rate_limit=1, rate_window=2, retry_after_seconds=3600)
    h = bearer(server)
    assert get_page(server, h).status_code == 200
    resp = get_page(server, h)
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "3600"
    assert resp.json()["retry_after"] == 3600


def test_force_429_after(server):
    server.configure(
        rate_limit=0, force_429_after=2, force_429_client="x", retry_after_seconds=3600
    )
    x, y = bearer(server, "x"), bearer(server, "y")
    assert [get_page(server, x).status_code for _ in range(2)] == [200, 200]
    resp = sync(server, x, "campaign_1")
    assert resp.status_code == 429
    assert (resp.headers["Retry-After"], resp.json()["retry_after"]) == ("3600", 3600)
    assert {get_page(server, y).status_code for _ in range(4)} == {200}
    assert server.client_stats("x")["rate_limited"] == 1
    assert server.stats()["faults"]["forced_429"] == 1


def test_force_429_any_client_uses_window(server):
    server.configure(rate_limit=0, rate_window=7, force_429_after=1)
    for client in ("p", "q"):
        h = bearer(server, client)
        assert get_page(server, h).status_code == 200
        resp = get_page(server, h)
        assert (resp.status_code, resp.headers["Retry-After"]) == (429, "7")


# --- new knobs from the CLI and the environment -----------------------------


def test_new_knobs_from_env_and_set(monkeypatch):
    monkeypatch.setenv("MOCK_API_PAGE_FAULT", "duplicate_page")
    monkeypatch.setenv("MOCK_API_BAD_VALUES", "nul, bigint")
    args = parse_args(["--set", "repeat_campaign=campaign_5@7,3@2"])
    cfg = config_from_args(args)
    assert cfg.page_fault == "duplicate_page"
    assert cfg.bad_values == ("nul", "bigint")
    assert cfg.repeat_campaign == ("campaign_5@7", "campaign_3@2")
    assert cfg.to_json()["repeat_campaign"] == ["campaign_5@7", "campaign_3@2"]
    for bad in (
        {"page_fault": "sometimes"},
        {"slow_steady_bytes_per_second": 0},
        {"retry_after_seconds": -1},
    ):
        with pytest.raises(ConfigError):
            build("vendor", bad)


def test_first_page_body_replaces_page_one_only(server):
    server.configure(first_page_body='{"status":"ok"}')
    h = bearer(server)
    first = get_page(server, h)
    assert first.status_code == 200
    assert first.headers["Content-Type"].startswith("application/json")
    assert first.json() == {"status": "ok"}
    assert ids(get_page(server, h, page=2))[0] == "campaign_11"
    server.configure(first_page_body="null")
    assert get_page(server, h, page=1).json() is None
    server.configure(first_page_body="")
    assert ids(get_page(server, h, page=1))[0] == "campaign_1"


def test_sync_unknown_ids_answer_the_platform_404(server):
    server.configure(sync_unknown_ids="1,campaign_3")
    h = bearer(server)
    assert "campaign_1" in ids(get_page(server, h))  # still listed
    for cid in ("campaign_1", "campaign_3"):
        resp = sync(server, h, cid)
        assert resp.status_code == 404
        assert resp.json() == {
            "error": "Not Found",
            "message": f"Campaign {cid} not found.",
        }
    assert sync(server, h, "campaign_2").status_code == 200
    assert set(server.stats()["sync_success"]) == {"campaign_2"}
