"""A call held back between its turn and the socket is paced from when it left.

With 100 accounts in one process, a pause of the whole process (a full
garbage collection, both cores busy elsewhere) now and then held one call
back by up to 100 ms after the budget had recorded its departure; the calls
after it left on time, the server saw the window that starts at the late
call 100 ms short, and answered 429 (about one per 100-account run).
"""

from __future__ import annotations

import itertools
import logging
import time

import requests

from tap_mixoads.http.budget import RequestPacer
from tap_mixoads.http.departure import report_written
from tap_mixoads.http.transport import AccountTransport

HELD_BACK_S = 0.3


def _next_departure_after_held_back_call(*, corrected: bool) -> tuple[float, float]:
    pacer = RequestPacer(120)  # about 500 ms apart
    recorded = pacer.mark_sending()
    time.sleep(HELD_BACK_S)  # the call leaves this much later than recorded
    left = time.monotonic()
    if corrected:
        pacer.mark_sent(recorded, left)
    return left, pacer.mark_sending()


def test_the_next_call_is_spaced_from_the_real_departure():
    left, following = _next_departure_after_held_back_call(corrected=True)
    # Never closer than the budget's exact interval (60 / 120 s).
    assert following - left >= 0.5 - 0.001


def test_control_without_the_correction_the_next_call_leaves_too_soon():
    left, following = _next_departure_after_held_back_call(corrected=False)
    pacer = RequestPacer(120)
    # Spaced from the recorded departure: the server sees less than an interval.
    assert following - left < pacer.interval_s - HELD_BACK_S / 2


def test_a_correction_only_moves_a_departure_later():
    pacer = RequestPacer(600)
    recorded = pacer.mark_sending()
    pacer.mark_sent(recorded, recorded - 1.0)  # clock noise: ignored
    following = pacer.mark_sending()
    assert following - recorded >= 0.1 - 0.001  # the exact interval, 60 / 600 s


def test_the_transport_reports_when_the_request_was_written(calm):
    """Real sockets: the hook fires once per request, after it was written."""
    transport = AccountTransport(
        client_id="c1",
        budget=RequestPacer(6000),
        deadline=5.0,
        pool_maxsize=2,
        logger=logging.getLogger("test"),
        api_url=calm.url,
    )
    session = requests.Session()
    session.mount("http://", transport)
    seen: list[float] = []
    before = time.monotonic()
    with report_written(seen.append):
        response = session.get(calm.url + "/health", timeout=5)
    after = time.monotonic()
    assert response.status_code == 200
    assert len(seen) == 1
    assert before <= seen[0] <= after
    # Outside the context, nothing is reported.
    session.get(calm.url + "/health", timeout=5)
    assert len(seen) == 1


def test_small_delays_in_leaving_do_not_add_up():
    """A call may catch up one margin on a late one: 30 calls, each 5 ms late.

    6000/min: 10 ms exact, 16 ms paced (a 6 ms margin). Were every late
    departure to push the next call a full interval back, 29 gaps would take
    at least 29 x 21 ms; catching up keeps them near 29 x 16 ms.
    """
    pacer = RequestPacer(6000)
    assert pacer.interval_ms == 16
    first = last = 0.0
    for i in range(30):
        recorded = pacer.mark_sending()
        pacer.mark_sent(recorded, recorded + 0.005)  # left 5 ms after recorded
        if i == 0:
            first = recorded
        last = recorded
    assert last - first < 29 * 0.021
    # Still never two departures closer than the exact interval (10 ms).
    deps = list(pacer._departures)  # the pacer's own record
    assert all(b - a >= 0.010 - 1e-6 for a, b in itertools.pairwise(deps))
