"""What a catalog may select, and what ``sync_mode: none`` leaves out of it.

:class:`~tap_mixoads.tap.TapMixoAds` applies both before the SDK builds its
stream maps (``setup_mapper``).
"""

from __future__ import annotations

import typing as t

from tap_mixoads.errors import ConfigError
from tap_mixoads.streams.campaigns import SYNC_FIELDS, CampaignsStream
from tap_mixoads.streams.run_streams import SyncEventsStream, SyncRunsStream

if t.TYPE_CHECKING:
    from singer_sdk.singerlib import Catalog


def check_selection(catalog: Catalog) -> None:
    """Refuse a catalog that selects the run streams but not ``campaigns``.

    ``sync_events`` and ``sync_runs`` are what the campaigns run did; the
    SDK skips a deselected stream, so without this they would silently
    load nothing.

    Raises:
        ConfigError: one line saying what to select instead.
    """
    selected = {
        entry.tap_stream_id
        for entry in catalog.streams
        if entry.metadata.resolve_selection().get((), True)
    }
    runs = sorted(selected & {SyncEventsStream.name, SyncRunsStream.name})
    if runs and CampaignsStream.name not in selected:
        msg = (
            f"Invalid catalog: it selects {' and '.join(runs)} but not campaigns; "
            "they record what the campaigns run did, so they would load "
            "nothing. Select campaigns too (to load no campaign rows, add the "
            'stream map {"campaigns": null})'
        )
        raise ConfigError(msg)


def leave_out_sync_columns(catalog: Catalog) -> None:
    """Deselect the campaigns' sync columns (a ``sync_mode: none`` run).

    target-postgres (an SDK SQL target) updates exactly the columns of the
    SCHEMA it was given, so a read-only run whose SCHEMA has no sync columns
    keeps the outcome each row holds, whatever the state knows. Deselecting
    a property in the catalog's metadata is the SDK's own way to leave it
    out of the SCHEMA and of every record.
    """
    entry = catalog.get_stream(CampaignsStream.name)
    if entry is None:
        return
    for name in SYNC_FIELDS:
        metadata = entry.metadata.get(("properties", name))
        if metadata is not None:
            metadata.selected = False
