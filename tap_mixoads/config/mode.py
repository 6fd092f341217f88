"""What kind of run this is, decided once and read everywhere as an answer.

A connection test (``--test``), a probe (``meltano config test``: stdout and
stderr on one pipe) and a ``schema_only`` run all read less and change
nothing on the platform; only a normal run calls the sync endpoint, marks
campaigns removed, saves the ledger and flushes sync events as it goes.
Code asks the mode what it allows instead of re-deriving it from the SDK's
``ABORT_AT_RECORD_COUNT`` or the config.
"""

from __future__ import annotations

import enum


class RunMode(enum.Enum):
    """The kinds of run the tap knows."""

    NORMAL = "normal"
    #: ``--test``: the SDK stops each stream at its first record.
    TEST = "test"
    #: stdout and stderr on one pipe: ``meltano config test``.
    PROBE = "probe"
    #: ``schema_only``: SCHEMA messages only, no API call.
    SCHEMA_ONLY = "schema_only"

    @classmethod
    def decide(cls, *, schema_only: bool, test: bool, probe: bool) -> RunMode:
        """The mode for a run with these traits (the first that holds wins)."""
        if schema_only:
            return cls.SCHEMA_ONLY
        if test:
            return cls.TEST
        if probe:
            return cls.PROBE
        return cls.NORMAL

    @property
    def changes_things(self) -> bool:
        """Whether the run may sync, mark removals and save the ledger."""
        return self is RunMode.NORMAL
