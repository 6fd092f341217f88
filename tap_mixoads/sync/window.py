"""The records one account's sync hook holds: waiting for a sync, or a verdict.

:class:`~tap_mixoads.sync.syncer.CampaignSyncer` keeps at most
``concurrency * WINDOW_PER_WORKER`` records here; the rest of the account's
records are still unlisted, so the run never holds more than a window.
"""

from __future__ import annotations

import collections
import typing as t
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    import asyncio

    from tap_mixoads.sync.outcome import SyncOutcome


@dataclass
class Window:
    """The records waiting in ``sync_all``: for their sync, or for a verdict.

    ``queued`` holds records whose sync has not started (no place free),
    ``syncing`` those whose call is under way, ``not_found`` records whose
    sync answered the platform's 404 while no success had shown the route
    works yet.
    """

    queued: collections.deque[dict[str, t.Any]] = field(
        default_factory=collections.deque
    )
    syncing: dict[asyncio.Task[SyncOutcome], dict[str, t.Any]] = field(
        default_factory=dict
    )
    not_found: collections.deque[tuple[dict[str, t.Any], SyncOutcome]] = field(
        default_factory=collections.deque
    )

    def __len__(self) -> int:
        return len(self.queued) + len(self.syncing) + len(self.not_found)
