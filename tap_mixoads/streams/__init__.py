"""The tap's SDK streams: thin, they drain what the engine produces."""

from __future__ import annotations

from tap_mixoads.streams.campaigns import SYNC_FIELDS, CampaignsStream
from tap_mixoads.streams.run_streams import SyncEventsStream, SyncRunsStream

__all__ = ["SYNC_FIELDS", "CampaignsStream", "SyncEventsStream", "SyncRunsStream"]
