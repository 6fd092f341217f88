"""Paging through ``GET /api/campaigns``: the one owner of page state.

The paginator reads each page once (from ``validate_response``, so that a bad
page is retried like any other failed attempt) and decides everything about
it: which rows are real, which are repeats, and which page comes next. The
stream's ``parse_response`` only normalises the rows it is handed.

The contract says ``total`` is authoritative (``has_more`` is computed as if
every page held 10, so it is never used), so:

- the first page must be a campaign page: a ``data`` array and a
  ``pagination.total``. Anything else (``{}``, ``{"status": "ok"}``, ``[]``,
  ``null``: a wrong ``api_url``, a captive proxy, a health endpoint) is not
  an empty account; it is re-read like any bad page and then fails the
  account with one line saying what came. An account that really holds no
  campaign answers ``data: []`` with ``total: 0``, and that is fine;
- rows at positions at or past the largest ``total`` seen in the run do not
  exist (the API pads pages past the end) and are never emitted;
- paging stops when the page just read reaches that largest total; a
  ``total`` that shrinks mid-run is logged as a warning and cannot end the
  run early.

A short read is never silent. When the total says more campaigns exist than
were read and a page yields none (its ``data`` is not a list, is empty, holds
only campaigns already read, or the server ignored ``page``), or paging ends
with fewer campaigns than the total, the page is re-read (a retriable error,
through the usual retry policy) and, if that does not recover it, the call
fails with one line naming the page, what was expected and what came. (When
paging ends short of the total after a re-read, the last page's rows are
real: they are emitted first, then the account fails.)

A campaign listed twice (the list shifted while we paged) is emitted once;
ids are compared as the normaliser emits them (an integer id ``7`` is the
campaign ``"7"``). To keep memory flat the paginator remembers the ids of
the last ``MAX_REMEMBERED_IDS`` campaigns only (about 2 MB); a repeat
further apart than that would be emitted again (and upserted onto the same
row).
"""

from __future__ import annotations

import collections
import dataclasses
import time
import typing as t

from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_mixoads.errors import ShortReadError
from tap_mixoads.http.responses import decode_json, path_of, printable

if t.TYPE_CHECKING:
    import logging

    import requests

#: Campaign ids remembered for de-duplication (a sliding window, see above).
MAX_REMEMBERED_IDS = 20_000
#: Keys of a non-campaign page named in the error line, at most.
MAX_NAMED_KEYS = 8
#: Longest key text named in the error line.
MAX_KEY_CHARS = 40


def _count(value: t.Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _key(raw: t.Any) -> str | None:
    """A row's id as the normaliser emits it (``7`` and ``"7"`` are one id)."""
    key = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    return key if isinstance(key, str) else None


def _shape(body: t.Any) -> str:
    """What a body is, in a few words, for the "not a campaign page" line."""
    if body is None:
        return "null"
    if isinstance(body, dict):
        if not body:
            return "an empty object"
        keys = sorted(printable(str(k))[:MAX_KEY_CHARS] for k in body)
        named = ", ".join(keys[:MAX_NAMED_KEYS])
        more = len(keys) - MAX_NAMED_KEYS
        return (
            "an object with keys: " + named + (f" and {more} more" if more > 0 else "")
        )
    if isinstance(body, list):
        return f"a list of {len(body)} items" if body else "an empty list"
    return f"a {type(body).__name__}"


@dataclasses.dataclass
class Page:
    """One page as read: its real, new rows and what comes next."""

    number: int
    rows: list[t.Any]
    received_at: float
    next_page: int | None


class CampaignPaginator(BaseAPIPaginator[int]):
    """Page numbers 1, 2, ... until the campaign list is exhausted.

    Args:
        page_size: the ``limit`` the tap asks for.
        logger: where a shrinking total and skipped padding are reported.
    """

    def __init__(self, *, page_size: int, logger: logging.Logger) -> None:
        super().__init__(start_value=1)
        self.page_size = page_size
        self.logger = logger
        self.max_total: int | None = None
        self.latest_total: int | None = None
        self.received = 0
        self.padding_skipped = 0
        self.repeats_skipped = 0
        self._seen: set[t.Any] = set()
        self._seen_order: collections.deque[t.Any] = collections.deque()
        self._reread: dict[int, bool] = {}
        #: Why the list ended short of its total (after a re-read), if it did.
        self.incomplete: str | None = None
        self._page: Page | None = None
        self._page_response: requests.Response | None = None

    def read(self, response: requests.Response) -> Page:
        """Read and judge one page; commit its state only if it is good.

        Called for every attempt (a retried page is read again); nothing is
        remembered from an attempt that raises.

        Raises:
            ShortReadError: the first page is not a campaign page (no
                ``data`` array or no ``pagination.total``), or a page yields
                nothing (or paging would end) although the total says more
                campaigns exist.
            ValueError: the body is not JSON.
        """
        if self._page_response is response and self._page is not None:
            return self._page
        body = decode_json(response)
        data = body.get("data") if isinstance(body, dict) else None
        pagination = body.get("pagination") if isinstance(body, dict) else None
        pagination = pagination if isinstance(pagination, dict) else {}
        number = self.current_value
        total = _count(pagination.get("total"))
        if self.max_total is None and (total is None or not isinstance(data, list)):
            raise ShortReadError(self._not_campaigns(response, number, body), response)
        limit = _count(pagination.get("limit")) or self.page_size
        max_total = self.max_total
        if total is not None:
            max_total = total if max_total is None else max(max_total, total)
        latest = total if total is not None else self.latest_total

        rows: list[t.Any] = []
        padding = repeats = 0
        first = (number - 1) * limit
        page_ids: set[t.Any] = set()
        for position, raw in enumerate(data if isinstance(data, list) else [], first):
            if max_total is not None and position >= max_total:
                padding += 1
                continue
            key = _key(raw)
            if key is not None and (key in self._seen or key in page_ids):
                repeats += 1
                continue
            if key is not None:
                page_ids.add(key)
            rows.append(raw)

        received = self.received + len(rows)
        assert max_total is not None and latest is not None  # the first page's
        next_page = number + 1 if number * limit < max_total else None
        expected = latest
        if received < expected:
            if not rows and first < max_total:
                raise ShortReadError(
                    self._short(response, number, expected, data, repeats), response
                )
            if next_page is None:
                msg = (
                    f"GET {path_of(response.url)} page {number}: the total says "
                    f"{expected} campaigns, but paging ended after {received}"
                )
                if not self._reread.get(number):
                    # Once: a re-read may recover (a list that shifted).
                    self._reread[number] = True
                    raise ShortReadError(msg, response)
                # Still short: this page's rows are real, so they are
                # emitted; the stream fails the account after them.
                self.incomplete = msg

        # A good page: commit.
        if (
            total is not None
            and self.latest_total is not None
            and (total < self.latest_total)
        ):
            self.logger.warning(
                "Page %d: the total shrank from %d to %d; reading on to %d",
                number,
                self.latest_total,
                total,
                max_total,
            )
        self.max_total, self.latest_total, self.received = max_total, latest, received
        self.padding_skipped += padding
        self.repeats_skipped += repeats
        self._remember(page_ids)
        if padding:
            self.logger.warning(
                "Page %d: skipped %d campaigns past the total (%s): they do not exist",
                number,
                padding,
                max_total,
            )
        self._page = Page(number, rows, time.time(), next_page)
        self._page_response = response
        return self._page

    def _not_campaigns(
        self, response: requests.Response, number: int, body: t.Any
    ) -> str:
        data = body.get("data") if isinstance(body, dict) else None
        pagination = body.get("pagination") if isinstance(body, dict) else None
        total = pagination.get("total") if isinstance(pagination, dict) else None
        missing = []
        if not isinstance(data, list):
            missing.append("no 'data' array")
        if _count(total) is None:
            missing.append("no 'pagination.total' count")
        return (
            f"GET {path_of(response.url)} page {number} answered "
            f"{response.status_code} but it is not a campaign page "
            f"({', '.join(missing)}; got {_shape(body)}): is api_url the API's "
            "base URL?"
        )

    def _short(
        self,
        response: requests.Response,
        number: int,
        expected: int,
        data: t.Any,
        repeats: int,
    ) -> str:
        if not isinstance(data, list):
            came = f"its data was {type(data).__name__}, not a list"
        elif not data:
            came = "it was empty"
        else:
            came = f"all {repeats} of its campaigns were already read (page ignored?)"
        return (
            f"GET {path_of(response.url)} page {number}: the total says {expected} "
            f"campaigns and {self.received} were read, but {came}"
        )

    def _remember(self, keys: set[t.Any]) -> None:
        self._seen |= keys
        self._seen_order.extend(keys)
        while len(self._seen_order) > MAX_REMEMBERED_IDS:
            self._seen.discard(self._seen_order.popleft())

    def let_go(self) -> None:
        """Forget the last answer once it is read and the paginator advanced.

        Its body (tens of KB per page) would otherwise stay for the rest of
        the run; and once the list is finished no page is left to compare
        ids with.
        """
        self._page = None
        self._page_response = None
        if self.finished:
            self._seen = set()
            self._seen_order.clear()

    def take_page(self, response: requests.Response) -> Page:
        """The page read from ``response``; its rows are handed over once."""
        page = self.read(response)
        handed = dataclasses.replace(page)
        page.rows = []
        return handed

    @override
    def get_next(self, response: requests.Response) -> int | None:
        """The next page number, or None when the list is exhausted."""
        return self.read(response).next_page

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        """Go on past a page that yielded no record (all rejected, say)."""
        return self.read(response).next_page is not None
