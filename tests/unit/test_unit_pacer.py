"""The pacer: even spacing, departures and the slowdown after a 429, in-process."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from tap_mixoads.http.budget import RequestPacer, pacing_interval_ms


def test_interval_spreads_the_budget_evenly_with_a_margin():
    # Never faster than the budget, and at most ~1% slower than it.
    assert 6000 < pacing_interval_ms(10) <= 6000 * 1.01
    assert 600 < pacing_interval_ms(100) <= 606 + 5


def test_pacer_never_lets_two_calls_closer_than_the_interval_across_tasks():
    # 100 ms apart: wide enough that a task waking a few tens of ms late on
    # a loaded 2-core box cannot make two turns look simultaneous.
    pacer = RequestPacer(600)
    stamps: list[float] = []

    async def worker():
        for _ in range(5):
            await pacer.turn()
            stamps.append(await pacer.mark_sending())

    async def workers():
        await asyncio.gather(*(worker() for _ in range(4)))

    asyncio.run(workers())
    stamps.sort()
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    interval = pacer.interval_ms / 1000
    assert len(stamps) == 20
    # In aggregate never faster than the budget; single gaps may shrink a
    # little when a task is scheduled late after its turn (a loaded box).
    assert stamps[-1] - stamps[0] >= 19 * interval * 0.98
    assert min(gaps) >= interval * 0.5


def test_a_turn_comes_one_exact_interval_after_the_last_so_lateness_does_not_add_up():
    # 60/min: 1 s exact, 1.008 s planned. The turns (the bucket) come at
    # the exact interval; the planned spacing, margin included, is held by
    # the departures (mark_sending), which let a call catch up one margin.
    # Were the turns at the planned interval too, each turn's wake-up
    # lateness (~2 ms: millisecond timestamps, the loop's timer) would add
    # up: 100 calls at 604 ms left 0.2 s late in the 100-account benchmark.
    pacer = RequestPacer(60)
    assert pacer.interval_ms == 1008

    async def turns():
        admitted, _ = pacer._ask()
        assert admitted
        await asyncio.sleep(1.0015)
        return pacer._ask()

    admitted, wait_ms = asyncio.run(turns())
    assert admitted, f"a turn 1.0015 s after the last was refused ({wait_ms} ms)"


def test_a_late_departure_pushes_the_following_calls_back():
    # 600/min: turns 100 ms apart. One call leaves 80 ms late (a token
    # renewal, a busy CPU); the next ones, on time by their turns, would
    # otherwise squeeze 3 calls into less than 2 intervals.
    pacer = RequestPacer(600)
    departures = []

    async def calls():
        for i in range(6):
            await pacer.turn()
            if i == 2:
                await asyncio.sleep(0.08)
            await pacer.mark_sending()
            departures.append(time.monotonic())

    asyncio.run(calls())
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

    async def recover():
        for _ in range(60):
            pacer._departures.clear()  # no waiting: only the recovery is tested
            await pacer.mark_sending()

    asyncio.run(recover())
    # Back near the budget's pace, but with a margin widened for the rest
    # of the run: a noisy machine costs one 429, not one per window.
    assert pacer.interval_s == pytest.approx(base * 1.03)
