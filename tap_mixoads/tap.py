"""TapMixoAds: the settings it accepts and the streams it offers."""

from __future__ import annotations

import functools
import typing as t

from singer_sdk import Tap
from singer_sdk import typing as th

from tap_mixoads import streams
from tap_mixoads.runtime import RunResources
from tap_mixoads.settings import config_problems, raise_for_problems
from tap_mixoads.writer import FastSingerWriter

if t.TYPE_CHECKING:
    import requests

    from tap_mixoads.auth import MixoAdsAuthenticator
    from tap_mixoads.ratelimit import RequestPacer


class TapMixoAds(Tap):
    """Singer tap for the Mixo Ads Ad Platform API."""

    name = "tap-mixoads"
    message_writer_class = FastSingerWriter

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_url",
            th.URIType,
            default="http://localhost:3001",
            title="API URL",
            description="Base URL of the Ad Platform API",
        ),
        th.Property(
            "email",
            th.StringType(min_length=1),
            required=True,
            title="Email",
            description="Account email",
        ),
        th.Property(
            "password",
            th.StringType(min_length=1),
            required=True,
            secret=True,
            title="Password",
            description="Account password (traded for a bearer token; never logged)",
        ),
        th.Property(
            "client_id",
            th.StringType(min_length=1),
            default="tap-mixoads",
            title="Client ID",
            description=(
                "Sent as X-Client-ID; the vendor counts the rate limit per client id"
            ),
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1),
            default=100,
            title="Page size",
            description="Campaigns per list call",
        ),
        th.Property(
            "requests_per_minute",
            th.IntegerType(minimum=1),
            default=10,
            title="Requests per minute",
            description=(
                "Client-side budget for all /api/* calls together, paced evenly"
            ),
        ),
        th.Property(
            "request_timeout",
            th.NumberType(exclusive_minimum=0),
            default=10,
            title="Request timeout",
            description="Connect+read timeout of every call, in seconds",
        ),
        th.Property(
            "max_retries",
            th.IntegerType(minimum=1),
            default=8,
            title="Max retries",
            description="Attempts per call before giving up",
        ),
        th.Property(
            "sync_enabled",
            th.BooleanType,
            default=True,
            title="Sync enabled",
            description=(
                "Call POST /api/campaigns/{id}/sync for each extracted campaign; "
                "turn off for read-only pulls"
            ),
        ),
        th.Property(
            "sync_concurrency",
            th.IntegerType(minimum=1),
            default=4,
            title="Sync concurrency",
            description="Most sync calls in flight at once",
        ),
    ).to_dict()

    def discover_streams(self) -> list[streams.CampaignsStream]:
        """The streams this tap offers."""
        return [streams.CampaignsStream(self)]

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Fill in defaults, then check the config before any API call.

        Raises:
            ConfigError: if ``raise_errors`` and the config has a problem.
        """
        schema = self.config_jsonschema
        self.append_builtin_config(schema)
        # The SDK does not fill in schema defaults; do it once, here, so the
        # rest of the tap reads every setting from one place.
        for key, spec in schema["properties"].items():
            if "default" in spec and key not in self._config:
                self._config[key] = spec["default"]
        problems = config_problems(self._config, schema)
        if raise_errors:
            raise_for_problems(problems)
        return problems

    @functools.cached_property
    def _run(self) -> RunResources:
        return RunResources(self.config)

    @property
    def authenticator(self) -> MixoAdsAuthenticator:
        """The run's one authenticator (one token per run, renewed early)."""
        return self._run.authenticator

    @property
    def pacer(self) -> RequestPacer:
        """The run's one pacer: all /api/* calls share the vendor's budget."""
        return self._run.pacer

    @property
    def requests_session(self) -> requests.Session:
        """The run's one HTTP session, paced by the client-side limiter."""
        return self._run.session
