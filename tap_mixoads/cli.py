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

import logging
import os
import signal
import sys

import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_mixoads.errors import MixoAdsError, RunInterruptedError, ShortReadError
from tap_mixoads.http.responses import describe_failure, error_text, path_of
from tap_mixoads.tap import TapMixoAds

EXIT_FAILURE = 1


def main() -> None:
    """Run the tap's CLI and turn expected failures into one line + exit 1."""
    logging.getLogger("urllib3").setLevel(logging.INFO)
    try:
        TapMixoAds.cli(standalone_mode=True)
    except RunInterruptedError as exc:
        name = signal.Signals(exc.signum).name
        sys.stderr.write(
            f"tap-mixoads: error: interrupted by {name}: the run is incomplete "
            "and no further API call was sent\n"
        )
        sys.stderr.flush()
        os._exit(128 + exc.signum)
    except RetriableAPIError as exc:
        fail(exhausted(exc))
    except (MixoAdsError, FatalAPIError) as exc:
        fail(describe_failure(exc))
    except requests.exceptions.RequestException as exc:
        # Retries exhausted on a timeout or a broken connection.
        request = exc.request
        where = "an API call"
        if request is not None:
            where = f"{request.method} {path_of(request.url)}"
        fail(f"{where} failed on every attempt: {describe_failure(exc)}")


def exhausted(exc: RetriableAPIError) -> str:
    """The line for a call whose every attempt failed: where, and the last answer."""
    response = exc.response
    if isinstance(exc, ShortReadError) or response is None:
        return f"{describe_failure(exc)} (on every attempt)"
    request = response.request
    return (
        f"{request.method} {path_of(response.url)} failed on every attempt: last "
        f"answer {response.status_code} ({error_text(response)})"
    )


def fail(message: str) -> None:
    """Print one error line to stderr and exit non-zero."""
    sys.stderr.write(f"tap-mixoads: error: {message}\n")
    sys.stderr.flush()
    sys.exit(EXIT_FAILURE)
