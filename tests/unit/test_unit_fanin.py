"""fan_in's staggered starts (tap_mixoads.engine.fanin.stagger)."""

from __future__ import annotations

import itertools

import pytest

from tap_mixoads.engine.fanin import stagger


def test_the_accounts_are_one_even_stream_over_half_an_interval():
    # 100 accounts at a 0.6 s interval: one start every 3 ms.
    delays = stagger([0.6] * 100)
    assert delays[0] == 0
    assert delays[-1] == pytest.approx(99 / 100 * 0.3)
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(delays)}
    assert gaps == {0.003}


def test_each_account_is_spread_over_its_own_interval():
    # A slower budget (a 429 widened it) spreads its account further.
    assert stagger([6.0, 6.0, 12.0, 6.0]) == [0.0, 0.75, 3.0, 2.25]


def test_one_account_starts_at_once():
    assert stagger([6.0]) == [0.0]
    assert stagger([]) == []
