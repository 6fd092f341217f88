"""The ``tap-mixoads`` command: the SDK's CLI, with one-line errors.

The SDK's CLI reports an unexpected exception with a full traceback. For the
failures we expect (bad settings, refused credentials, an endpoint that stays
down, a failed account), a user needs one line that names the problem and a
non-zero exit, so this wrapper catches the tap's own errors and the SDK's
fatal API errors and prints just their message. Anything else still gets a
traceback: that is a bug worth reporting.

An interrupted run (SIGINT, SIGTERM) exits 128 + the signal number at once:
worker threads may be waiting for their turn in the budget, and none of them
may send another call, so the process ends without waiting for them.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import logging
import os
import signal
import sys

import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_mixoads.errors import ConfigError, MixoAdsError, RunInterruptedError
from tap_mixoads.http.responses import final_failure
from tap_mixoads.tap import TapMixoAds

EXIT_FAILURE = 1
#: The garbage collector's thresholds for the tap process: young objects are
#: collected every 50,000 allocations instead of CPython's 700, the older
#: generations more rarely. Every collection pauses all threads, and a paused
#: thread that is about to send a call sends it late, which pushes that
#: account's later calls back (the budget spaces them from the late one).
#: With 100 accounts the defaults paused the process about 30 times per run
#: for 10 to 100 ms (1 s in all); with these, 2 pauses over 10 ms, and the
#: slowest account's calls ended 0.2 s late instead of 0.6 s (README,
#: Performance). Objects freed by reference counting, nearly all, are freed
#: at once either way.
GC_THRESHOLDS = (50_000, 50, 100)


#: The status of a run that is over, for :func:`_exit_without_teardown`.
_exit_status: int | None = None


def main() -> None:
    """Run the tap's CLI and turn expected failures into one line + exit 1."""
    global _exit_status
    logging.getLogger("urllib3").setLevel(logging.INFO)
    gc.set_threshold(*GC_THRESHOLDS)
    # Registered before anything else, so it runs after every other exit
    # handler (atexit runs them last-in first-out), the writer's flush too.
    atexit.register(_exit_without_teardown)
    try:
        TapMixoAds.cli(standalone_mode=True)
    except SystemExit as exc:
        # The run is over (click exits with its status): a signal now could
        # only turn a finished run's status into 128 + signum. Python resets
        # its own handlers to the default (die) while shutting down, but not
        # an ignored signal.
        _ignore_late_signals()
        if exc.code is None or isinstance(exc.code, int):
            _exit_status = exc.code or 0
        raise
    except RunInterruptedError as exc:
        name = signal.Signals(exc.signum).name
        sys.stderr.write(
            f"tap-mixoads: error: interrupted by {name}: the run is incomplete "
            "and no further API call was sent\n"
        )
        sys.stderr.flush()
        os._exit(128 + exc.signum)
    except ConfigError as exc:
        # Bad settings, a malformed --config file, an env var of the wrong
        # type: the message already names the setting or file, secret-free.
        fail(str(exc))
    except (
        MixoAdsError,
        FatalAPIError,
        RetriableAPIError,
        requests.exceptions.RequestException,
    ) as exc:
        fail(final_failure(exc))


def _exit_without_teardown() -> None:
    """End a finished run once its exit handlers ran, skipping the teardown.

    After the last exit handler (threads joined, the writer's buffer
    flushed), the interpreter would free every object of the run one by one:
    each account's ledger, plan and client. That took 0.2 s after the last
    message at 100 accounts, time the loader and the scheduler wait for an
    exit status already decided. Logging is shut down and the standard
    streams flushed here, as the teardown would have. The exit handlers
    registered before this one (at import, so they would run after it) are
    logging's (called here), certifi's (removes a certificate file extracted
    from a zip; none here) and multiprocessing's (the tap starts no
    processes).
    """
    if _exit_status is None:
        return
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(_exit_status)


def _ignore_late_signals() -> None:
    """Ignore SIGINT and SIGTERM for the rest of the process's exit."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


def fail(message: str) -> None:
    """Print one error line to stderr and exit non-zero."""
    sys.stderr.write(f"tap-mixoads: error: {message}\n")
    sys.stderr.flush()
    _ignore_late_signals()  # the verdict is out: keep it
    sys.exit(EXIT_FAILURE)
