"""The bearer token goes on a request after its last wait, as it leaves.

The departure guard (``RequestPacer.mark_sending``) may wait after the turn
is taken; a token read before that wait could expire in flight. With a 2 s
token and eight sync workers queued in the guard, that was a 401, and its
resend (waiting the same way) met a 401 again: the run failed.
"""

from __future__ import annotations

import asyncio
import logging
import typing as t

import requests

from tap_mixoads.http.transport import AccountTransport
from tap_mixoads.http.wire import Wire


class Budget:
    """Records the order of the pacer's steps."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def turn(self) -> None:
        self.log.append("turn")

    async def mark_sending(self) -> float:
        self.log.append("mark_sending")  # where the departure guard waits
        return 0.0

    def mark_sent(self, recorded: float, written_at: float) -> None:
        pass

    def note_rate_limited(self, sent_at: float | None = None) -> bool:
        return False


class Token:
    """A token whose value says which step of the pacer had run when read."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def bearer(self) -> str:
        return f"Bearer read-after-{self.log[-1] if self.log else 'nothing'}"

    def invalidate(self, sent: str | None) -> None:
        pass


def test_the_token_is_read_after_the_departure_guard(monkeypatch):
    log: list[str] = []
    transport = AccountTransport(
        client_id="c",
        budget=Budget(log),  # type: ignore[arg-type]
        wire=Wire(),  # never used: send_direct is replaced below
        timeout=5.0,
        deadline=5.0,
        logger=logging.getLogger("t"),
        api_url="http://api.test",
    )
    transport.token = Token(log)  # type: ignore[assignment]
    sent: list[str] = []

    async def send_direct(request: requests.PreparedRequest, **_kw: t.Any):
        sent.append(request.headers["Authorization"])
        answer = requests.Response()
        answer.status_code = 200
        return answer

    monkeypatch.setattr(transport, "send_direct", send_direct)
    request = requests.Request("GET", "http://api.test/api/campaigns").prepare()
    asyncio.run(transport.send(request))
    assert log == ["turn", "mark_sending"]
    assert sent == ["Bearer read-after-mark_sending"]
