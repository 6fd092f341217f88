"""The ``tap-mixoads`` command: the SDK's CLI, with one-line errors.

The SDK's CLI reports an unexpected exception with a full traceback. For the
failures we expect (bad settings, refused credentials, an endpoint that stays
down), a user needs one line that names the problem and a non-zero exit, so
this wrapper catches the tap's own errors and the SDK's fatal API errors and
prints just their message. Anything else still gets a traceback: that is a
bug worth reporting.
"""

from __future__ import annotations

import logging
import sys
from urllib.parse import urlsplit

import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_mixoads.client import MixoAdsStream
from tap_mixoads.errors import ConfigError, MixoAdsError
from tap_mixoads.tap import TapMixoAds

EXIT_FAILURE = 1


def main() -> None:
    """Run the tap's CLI and turn expected failures into one line + exit 1."""
    logging.getLogger("urllib3").setLevel(logging.INFO)
    try:
        TapMixoAds.cli(standalone_mode=True)
    except ConfigError as exc:
        # Bad settings, a malformed --config file, an env var of the wrong
        # type: the message already names the setting or file, secret-free.
        fail(str(exc))
    except (MixoAdsError, FatalAPIError, RetriableAPIError) as exc:
        message = MixoAdsStream.describe_failure(exc)
        fail(message)
    except requests.exceptions.RequestException as exc:
        # Retries exhausted on a timeout or a broken connection.
        request = exc.request
        where = "an API call"
        if request is not None:
            where = f"{request.method} {urlsplit(request.url or '').path}"
        fail(f"{where} failed on every attempt: {MixoAdsStream.describe_failure(exc)}")


def fail(message: str) -> None:
    """Print one error line to stderr and exit non-zero."""
    sys.stderr.write(f"tap-mixoads: error: {message}\n")
    sys.stderr.flush()
    sys.exit(EXIT_FAILURE)
