"""When to stop paging through ``GET /api/campaigns``.

The API reports both ``has_more`` and ``total``, and they disagree for page
sizes other than 10 (``has_more`` is computed as if every page held 10). The
contract says to trust ``total``; pages past the end may even hold campaigns
that do not exist. So the paginator stops at the first of:

- the page just read reaches the largest ``total`` seen in the run (the
  largest, so that a ``total`` that shrinks between pages cannot end the run
  before the real last page);
- an empty page;
- ``has_more`` false, but only when the response gives no usable ``total``.
"""

from __future__ import annotations

import typing as t

from singer_sdk.pagination import BaseAPIPaginator

from tap_mixoads.client import decode_json

if t.TYPE_CHECKING:
    import requests


def _positive_int(value: t.Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


class CampaignPaginator(BaseAPIPaginator[int]):
    """Page numbers 1, 2, ... until the campaign list is exhausted.

    Args:
        page_size: the ``limit`` the tap asks for.
    """

    def __init__(self, *, page_size: int) -> None:
        super().__init__(start_value=1)
        self.page_size = page_size
        self.total: int | None = None
        self._decided: tuple[int | None] | None = None

    def get_next(self, response: requests.Response) -> int | None:
        """Return the next page number, or None when the list is exhausted."""
        if self._decided is None:
            self.observe(decode_json(response))
        assert self._decided is not None
        (value,), self._decided = self._decided, None
        return value

    def observe(self, body: t.Any) -> None:
        """Decide the next page from a decoded page body, ahead of get_next.

        The stream calls this while it still has the body, so that it can
        drop the decoded page right after emitting it: only one page is ever
        held in memory, however many there are.
        """
        self._decided = (self._next_page(body),)

    def _next_page(self, body: t.Any) -> int | None:
        data = body.get("data") if isinstance(body, dict) else None
        if not data:
            return None
        pagination = body.get("pagination") or {}
        total = _positive_int(pagination.get("total"))
        if total is not None:
            self.total = total if self.total is None else max(self.total, total)
        # The server may cap the page size; its echo of ``limit`` wins.
        limit = _positive_int(pagination.get("limit")) or self.page_size
        page = self.current_value
        if self.total is not None:
            return page + 1 if page * limit < self.total else None
        has_more = pagination.get("has_more", len(data) >= limit)
        return page + 1 if has_more else None
