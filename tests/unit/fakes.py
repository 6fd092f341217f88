"""Responses and an API built in memory: for the pure parts' unit tests."""

from __future__ import annotations

import json
import typing as t
from collections.abc import AsyncIterable, AsyncIterator, Iterable

import requests

from tap_mixoads.private_api import set_body

API = "http://api.test"


def response(
    status: int,
    body: t.Any,
    *,
    method: str = "GET",
    path: str = "/api/campaigns",
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """A response as the transport hands it over (its body already read)."""
    out = requests.Response()
    out.status_code = status
    out.url = API + path
    out.headers.update(headers or {})
    out.request = requests.Request(method, out.url).prepare()
    set_body(out, body if isinstance(body, bytes) else json.dumps(body).encode())
    return out


def campaign(i: int) -> dict[str, t.Any]:
    """Campaign ``i`` as the API lists it."""
    return {
        "id": f"campaign_{i}",
        "name": f"Campaign {i}",
        "status": "active",
        "budget": 1000 + i,
        "impressions": i,
        "clicks": 0,
        "conversions": 0,
        "created_at": "2024-01-01T00:00:00Z",
    }


def page(number: int, limit: int, total: int) -> dict[str, t.Any]:
    """Page ``number`` of a list of ``total`` campaigns."""
    first = (number - 1) * limit + 1
    last = min(total, number * limit)
    return {
        "data": [campaign(i) for i in range(first, last + 1)],
        "pagination": {"page": number, "limit": limit, "total": total},
    }


class ListingAPI:
    """An account's API whose list holds ``total`` campaigns (no network).

    ``list_page`` behaves like :class:`tap_mixoads.http.api.AccountAPI`'s:
    the caller's ``check`` judges the answer; here a failed check raises
    straight away (the real one retries).
    """

    def __init__(self, total: int, *, pages: dict[int, t.Any] | None = None) -> None:
        self.total = total
        self.pages = pages or {}
        self.asked: list[tuple[int, int]] = []

    async def list_page(
        self, number: int, limit: int, *, check: t.Callable[[requests.Response], t.Any]
    ) -> requests.Response:
        self.asked.append((number, limit))
        body = self.pages.get(number) or page(number, limit, self.total)
        answer = response(200, body, path=f"/api/campaigns?page={number}")
        check(answer)
        return answer


_T = t.TypeVar("_T")


async def collect(items: AsyncIterable[_T]) -> list[_T]:
    """Every item of an async iterable, in order (``list`` for async)."""
    return [item async for item in items]


async def aiter_of(items: Iterable[_T]) -> AsyncIterator[_T]:
    """``items`` as an async iterator (what the engine's records are)."""
    for item in items:
        yield item
