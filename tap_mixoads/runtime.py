"""What one run shares across streams and threads: session, pacer, token.

The vendor's rate limit and token are per client, not per stream, so there is
exactly one of each per run, built lazily from the validated config the first
time a stream needs them (never at import time, never for ``--about``).
"""

from __future__ import annotations

import typing as t

import requests
from requests.adapters import HTTPAdapter

from tap_mixoads.auth import MixoAdsAuthenticator
from tap_mixoads.ratelimit import RequestPacer


class RunResources:
    """The HTTP session (paced) and the authenticator of one run.

    Args:
        config: the tap's validated config.
    """

    def __init__(self, config: t.Mapping[str, t.Any]) -> None:
        self.pacer = RequestPacer(int(config["requests_per_minute"]))
        # Enough pooled connections for every sync worker plus the list calls,
        # so concurrent calls never queue for a socket.
        adapter = HTTPAdapter(
            pool_connections=2, pool_maxsize=int(config["sync_concurrency"]) + 2
        )
        self.session = requests.Session()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.authenticator = MixoAdsAuthenticator(
            api_url=str(config["api_url"]),
            email=str(config["email"]),
            password=str(config["password"]),
            client_id=str(config["client_id"]),
            timeout=float(config["request_timeout"]),
            max_tries=int(config["max_retries"]),
        )
