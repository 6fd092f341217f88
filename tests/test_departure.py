"""A call held back between its turn and the socket is paced from when it left.

With 100 accounts in one process, a pause of the whole process (a full
garbage collection, both cores busy elsewhere) now and then held one call
back by up to 100 ms after the budget had recorded its departure; the calls
after it left on time, the server saw the window that starts at the late
call 100 ms short, and answered 429 (about one per 100-account run).
"""

from __future__ import annotations

import asyncio
import http.server
import itertools
import json
import logging
import threading
import time
import typing as t

import aiohttp
import pytest
import requests

from tap_mixoads.http import wire as wire_module
from tap_mixoads.http.budget import RequestPacer
from tap_mixoads.http.client import AccountClient
from tap_mixoads.http.transport import AccountTransport
from tap_mixoads.http.wire import Wire

if t.TYPE_CHECKING:
    from collections.abc import Iterator

HELD_BACK_S = 0.3


def _next_departure_after_held_back_call(*, corrected: bool) -> tuple[float, float]:
    async def calls() -> tuple[float, float]:
        pacer = RequestPacer(120)  # about 500 ms apart
        recorded = await pacer.mark_sending()
        time.sleep(HELD_BACK_S)  # the call leaves this much later than recorded
        left = time.monotonic()
        if corrected:
            pacer.mark_sent(recorded, left)
        return left, await pacer.mark_sending()

    return asyncio.run(calls())


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
    async def calls() -> tuple[float, float]:
        pacer = RequestPacer(600)
        recorded = await pacer.mark_sending()
        pacer.mark_sent(recorded, recorded - 1.0)  # clock noise: ignored
        return recorded, await pacer.mark_sending()

    recorded, following = asyncio.run(calls())
    assert following - recorded >= 0.1 - 0.001  # the exact interval, 60 / 600 s


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers a token to ``POST /auth/token``, ``{"ok": true}`` to the rest.

    Notes when each request's headers arrived (``time.monotonic``: the
    server runs in this process, on a thread).
    """

    protocol_version = "HTTP/1.1"  # keep-alive, as the API
    arrivals: t.ClassVar[list[tuple[str, float]]]

    def _answer(self) -> None:
        self.arrivals.append((f"{self.command} {self.path}", time.monotonic()))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/auth/token"):
            body = {"access_token": "t0k3n", "expires_in": 3600}
        else:
            body = {"ok": True}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *_args: t.Any) -> None:
        pass


class LocalServer(t.NamedTuple):
    url: str
    arrivals: list[tuple[str, float]]


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A real HTTP server on 127.0.0.1, on a thread of this process."""
    arrivals: list[tuple[str, float]] = []
    handler = type("Handler", (_Handler,), {"arrivals": arrivals})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield LocalServer(f"http://127.0.0.1:{httpd.server_port}", arrivals)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _transport(api_url: str, wire: Wire) -> AccountTransport:
    return AccountTransport(
        client_id="c1",
        budget=RequestPacer(6000),
        wire=wire,
        timeout=5.0,
        deadline=5.0,
        logger=logging.getLogger("test"),
        api_url=api_url,
    )


def test_the_transport_reports_when_the_request_was_written(server: LocalServer):
    """Real sockets: the hook fires once per request, after it was written."""
    seen: list[float] = []
    other: list[float] = []

    async def calls() -> tuple[float, float, list[int]]:
        wire = Wire()
        transport = _transport(server.url, wire)

        def health() -> requests.PreparedRequest:
            return requests.Request("GET", server.url + "/health").prepare()

        try:
            before = time.monotonic()
            response = await transport.send_direct(health(), on_written=seen.append)
            after = time.monotonic()
            statuses = [response.status_code]
            # Without a hook, nothing is reported; two calls in flight at
            # once each report to their own hook only.
            statuses.append((await transport.send_direct(health())).status_code)
            both = await asyncio.gather(
                transport.send_direct(health(), on_written=seen.append),
                transport.send_direct(health(), on_written=other.append),
            )
            statuses += [r.status_code for r in both]
        finally:
            await wire.close()
        return before, after, statuses

    before, after, statuses = asyncio.run(calls())
    assert statuses == [200] * 4
    assert len(server.arrivals) == 4
    assert len(seen) == 2 and len(other) == 1
    assert before <= seen[0] <= after
    # Written before the server had read the request's headers.
    assert seen[0] <= server.arrivals[0][1]


class _RecordingPacer(RequestPacer):
    """A pacer that notes each recorded departure and each correction."""

    def __init__(self, *args: t.Any, correct: bool = True, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.correct = correct
        self.recorded: list[float] = []
        self.written: list[float] = []

    async def mark_sending(self) -> float:
        departed = await super().mark_sending()
        self.recorded.append(departed)
        return departed

    def mark_sent(self, recorded: float, written_at: float) -> None:
        self.written.append(written_at)
        if self.correct:
            super().mark_sent(recorded, written_at)


def _held_back_api_calls(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, *, correct: bool
) -> tuple[_RecordingPacer, list[float]]:
    """Two ``/api/*`` calls through a real client; the first is held back.

    The first API call's connection is held ``HELD_BACK_S`` between its
    departure being recorded and its headers leaving (as a pause of the
    whole process, or a slow connect, would).
    """
    held: list[str] = []

    class HoldingConnector(aiohttp.TCPConnector):
        async def connect(self, req: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
            if req.url.path.startswith("/api/") and not held:
                held.append(req.url.path)
                await asyncio.sleep(HELD_BACK_S)
            return await super().connect(req, *args, **kwargs)

    monkeypatch.setattr(wire_module.aiohttp, "TCPConnector", HoldingConnector)
    pacer = _RecordingPacer(120, name="c1", correct=correct)  # about 500 ms apart

    async def calls() -> list[int]:
        wire = Wire()
        client = AccountClient(
            api_url=server.url,
            client_id="c1",
            email="a@b.c",
            password="pw",
            budget=pacer,
            wire=wire,
            timeout=5.0,
            deadline=5.0,
            max_tries=1,
            max_rate_limit_wait=1.0,
        )
        try:
            statuses = []
            for _ in range(2):
                request = requests.Request("GET", server.url + "/api/campaigns")
                response = await client.transport.send(request.prepare())
                statuses.append(response.status_code)
            return statuses
        finally:
            await wire.close()

    assert asyncio.run(calls()) == [200, 200]
    assert held == ["/api/campaigns"]
    arrivals = [at for what, at in server.arrivals if what.startswith("GET /api/")]
    return pacer, arrivals


def test_a_held_back_call_is_paced_from_when_its_headers_left(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
):
    """Real sockets: the hook moves the departure; the next call waits for it."""
    pacer, arrivals = _held_back_api_calls(server, monkeypatch, correct=True)
    first_recorded, second_recorded = pacer.recorded
    first_written = pacer.written[0]
    # The hook fired when the request left, after the hold, not at its turn.
    assert first_written - first_recorded >= HELD_BACK_S - 0.001
    assert first_written <= arrivals[0]
    # The next call left a whole exact interval (60 / 120 s) after it ...
    assert second_recorded - first_written >= 0.5 - 0.001
    # ... and the server saw them that far apart (less its read jitter).
    assert arrivals[1] - arrivals[0] >= 0.5 - 0.05


def test_control_without_the_hook_a_held_back_call_is_followed_too_soon(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
):
    pacer, arrivals = _held_back_api_calls(server, monkeypatch, correct=False)
    # Paced from the recorded departure: the server sees less than an interval.
    assert arrivals[1] - arrivals[0] < pacer.interval_s - HELD_BACK_S / 2


def test_small_delays_in_leaving_do_not_add_up():
    """A call may catch up one margin on a late one: 30 calls, each 5 ms late.

    6000/min: 10 ms exact, 16 ms paced (a 6 ms margin). Were every late
    departure to push the next call a full interval back, 29 gaps would take
    at least 29 x 21 ms; catching up keeps them near 29 x 16 ms.
    """
    pacer = RequestPacer(6000)
    assert pacer.interval_ms == 16

    async def calls() -> tuple[float, float]:
        first = last = 0.0
        for i in range(30):
            recorded = await pacer.mark_sending()
            pacer.mark_sent(recorded, recorded + 0.005)  # left 5 ms after recorded
            if i == 0:
                first = recorded
            last = recorded
        return first, last

    first, last = asyncio.run(calls())
    assert last - first < 29 * 0.021
    # Still never two departures closer than the exact interval (10 ms).
    deps = list(pacer._departures)  # the pacer's own record
    assert all(b - a >= 0.010 - 1e-6 for a, b in itertools.pairwise(deps))
