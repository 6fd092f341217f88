"""An account's API attempts, counted by endpoint template and status.

The transport counts every attempt (:class:`CallStats`), the retry policy
every retry; the run report reads the figures.
"""

from __future__ import annotations

import collections
import threading

#: Status recorded for an attempt that got no answer at all.
NO_ANSWER = "no answer"


class CallStats:
    """Attempts by endpoint template and status: the run report's figures."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: collections.Counter[tuple[str, str]] = collections.Counter()
        self.retries = 0

    def count(self, endpoint: str, status: int | str) -> None:
        """Count one attempt."""
        with self._lock:
            self.calls[(endpoint, str(status))] += 1

    def count_retry(self, _exc: BaseException | None = None) -> None:
        """Count one retry (the policy's ``on_retry``)."""
        with self._lock:
            self.retries += 1

    def by_endpoint(self) -> dict[str, dict[str, int]]:
        """``{endpoint: {status: attempts}}``, for the run report."""
        with self._lock:
            out: dict[str, dict[str, int]] = {}
            for (endpoint, status), n in sorted(self.calls.items()):
                out.setdefault(endpoint, {})[status] = n
            return out

    def total(self, *, prefix: str = "") -> int:
        """Attempts whose endpoint template starts with ``prefix``."""
        with self._lock:
            return sum(n for (e, _), n in self.calls.items() if e.startswith(prefix))

    def count_of(self, endpoint: str, status: int | str) -> int:
        """Attempts of ``endpoint`` (``POST /api/...``) that ended in ``status``."""
        with self._lock:
            return self.calls[(endpoint, str(status))]

    def with_status(self, status: int) -> int:
        """Attempts answered ``status``, all endpoints together."""
        with self._lock:
            return sum(n for (_, s), n in self.calls.items() if s == str(status))
