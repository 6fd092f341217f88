"""A progress line per running account, every so often, from its own thread."""

from __future__ import annotations

import os
import threading
import typing as t

if t.TYPE_CHECKING:
    import logging

    from tap_mixoads.engine.run import RunContext

#: Seconds between progress lines (``MIXOADS_PROGRESS_SECONDS`` in the
#: environment may shorten it, for tests and impatient operators).
PROGRESS_SECONDS = 30.0


class ProgressReporter:
    """A progress line per account at least every ``PROGRESS_SECONDS``.

    A run at the vendor's pace takes about 10 minutes per 100 campaigns; a
    line every 30 s says it is alive and how long is left.
    """

    def __init__(
        self,
        run: RunContext,
        logger: logging.Logger,
        *,
        every: float | None = None,
    ) -> None:
        self.run = run
        self.logger = logger
        from_env = os.environ.get("MIXOADS_PROGRESS_SECONDS")
        self.every = every or float(from_env or PROGRESS_SECONDS)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="mixoads-progress", daemon=True
        )

    def start(self) -> None:
        """Start reporting."""
        self._thread.start()

    def stop(self) -> None:
        """Stop reporting (the closing lines follow)."""
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            for report in list(self.run.reports.values()):
                if report.ended_at is None:
                    self.logger.info(
                        "campaigns %s: %s",
                        report.account.label.strip(),  # with the shard, if set
                        report.progress_line(),
                    )
