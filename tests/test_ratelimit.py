"""The client-side limiter keeps runs inside the vendor's limit, without bursts."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from tap_mixoads.http.budget import RequestPacer, pacing_interval_ms
from tests.conftest import query
from tests.helpers import run_pipeline, run_tap, tap_config


def test_interval_spreads_the_budget_evenly_with_a_margin():
    # Never faster than the budget, and at most ~1% slower than it.
    assert 6000 < pacing_interval_ms(10) <= 6000 * 1.01
    assert 600 < pacing_interval_ms(100) <= 606 + 5


def test_pacer_never_lets_two_calls_closer_than_the_interval_across_threads():
    # 100 ms apart: wide enough that a thread waking a few tens of ms late on
    # a loaded 2-core box cannot make two turns look simultaneous.
    pacer = RequestPacer(600)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(5):
            pacer.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps.sort()
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    interval = pacer.interval_ms / 1000
    assert len(stamps) == 20
    # In aggregate never faster than the budget; single gaps may shrink a
    # little when a thread is scheduled late after its turn (a loaded box).
    assert stamps[-1] - stamps[0] >= 19 * interval * 0.98
    assert min(gaps) >= interval * 0.5


def test_vendor_shaped_run_sees_no_429_and_lands_every_synced_row(
    mock_api, pg_url, pg_schema, target_config
):
    # The vendor's shape (10 calls per window, faults on), with a 2 s window
    # standing in for 60 s: the matching budget is 300 calls per minute.
    server = mock_api("fast", rate_limit=10, rate_window=2.0, seed=3)
    config = tap_config(server.url, requests_per_minute=300, page_size=10)
    run = run_pipeline(config, target_config, timeout=300)
    assert run.tap_returncode == 0, run.tap_stderr[-2000:]
    assert run.target_returncode == 0, run.target_stderr[-2000:]
    stats = server.stats()
    assert stats["rate_limited"] == 0
    assert stats["max_in_window"] <= 10
    assert set(stats["sync_success"]) == {f"campaign_{i}" for i in range(1, 101)}
    assert query(
        pg_url,
        "select count(*), count(distinct id), "
        "count(*) filter (where sync_status = 'success' and synced_at is not null) "
        f'from "{pg_schema}".campaigns',
    ) == [(100, 100, 100)]


def test_a_generous_budget_does_not_burst_into_a_short_window(mock_api):
    # 10 calls per 6 s is "100 per minute" but not "100 at once": scaled 5x
    # down, 10 calls per 1.2 s. The budget leaves 10% of slack per window
    # (450 per minute: ~130 ms per 1.2 s window), about what the real config's
    # margin leaves per 60 s window (180 ms); an exact 500 per minute left
    # only 54 ms, less than the scheduling jitter of a loaded 2-core box.
    server = mock_api("calm", rate_limit=10, rate_window=1.2)
    run = run_tap(
        tap_config(server.url, requests_per_minute=450, page_size=10, sync_mode="all"),
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    stats = server.stats()
    assert stats["rate_limited"] == 0
    assert stats["requests"]["POST /api/campaigns/{id}/sync"] == 100
    assert stats["max_in_window"] <= 10


def test_a_late_departure_pushes_the_following_calls_back():
    # 600/min: turns 100 ms apart. One call leaves 80 ms late (a token
    # renewal, a busy CPU); the next ones, on time by their turns, would
    # otherwise squeeze 3 calls into less than 2 intervals.
    pacer = RequestPacer(600)
    departures = []
    for i in range(6):
        pacer.acquire()
        if i == 2:
            time.sleep(0.08)
        pacer.mark_sending()
        departures.append(time.monotonic())
    for k in range(1, 6):
        for i in range(k, 6):
            assert departures[i] - departures[i - k] >= k * 0.1


def test_a_429_slows_the_pace_and_it_recovers_to_a_wider_margin():
    pacer = RequestPacer(600)  # 100 ms apart
    base = pacer.interval_s
    assert pacer.note_rate_limited() is True  # first: worth a warning
    assert pacer.interval_s == pytest.approx(base * 2)
    # Concurrent 429s within one interval are one signal, not many.
    assert pacer.note_rate_limited() is False
    assert pacer.interval_s == pytest.approx(base * 2)
    for _ in range(60):
        pacer._departures.clear()  # no waiting: only the recovery is tested
        pacer.mark_sending()
    # Back near the budget's pace, but with a margin widened for the rest
    # of the run: a noisy machine costs one 429, not one per window.
    assert pacer.interval_s == pytest.approx(base * 1.03)
