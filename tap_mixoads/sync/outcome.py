"""What happened to one campaign's sync, and how that is written down.

One type, :class:`SyncOutcome`, with its conversions: the campaign record's
sync columns (:meth:`SyncOutcome.as_fields`) and the ``sync_events`` row
(:meth:`SyncOutcome.as_event`); the ledger keeps a success as
:class:`tap_mixoads.sync.entries.Success` and a failure as its entry, both
made from an outcome by :meth:`tap_mixoads.sync.ledger.Ledger.record`.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

SUCCESS = "success"
FAILED = "failed"
#: Outcome of a sync answered 404 by the platform: the campaign does not exist.
NOT_FOUND = "not_found"
#: Not synced in this run because syncing stopped (breaker, missing route).
DEFERRED = "deferred"


@dataclass(frozen=True)
class SyncOutcome:
    """What happened to one campaign's sync, as it goes onto the record."""

    status: str
    synced_at: str | None = None
    http_status: int | None = None
    error: str | None = None
    attempts: int = 0

    def as_fields(self) -> dict[str, t.Any]:
        """The record fields this outcome fills in."""
        return {
            "sync_status": self.status,
            "synced_at": self.synced_at,
            "sync_http_status": self.http_status,
            "sync_error": self.error,
            "sync_attempts": self.attempts,
        }

    def as_event(
        self, *, run_id: str, client_id: str, campaign_id: str, at: str
    ) -> dict[str, t.Any]:
        """The ``sync_events`` row of this outcome (``at``: when it was final)."""
        return {
            "run_id": run_id,
            "client_id": client_id,
            "campaign_id": campaign_id,
            "status": self.status,
            "http_status": self.http_status,
            "error": self.error,
            "attempts": self.attempts,
            "synced_at": self.synced_at,
            "at": at,
        }


#: Fields of a record when the hook is off.
NOT_SYNCED: dict[str, t.Any] = {
    "sync_status": None,
    "synced_at": None,
    "sync_http_status": None,
    "sync_error": None,
    "sync_attempts": None,
}
