"""TapMixoAds: the settings it accepts and the streams it offers."""

from __future__ import annotations

import contextvars
import functools
import signal
import threading
import types
import typing as t

from singer_sdk import Tap
from singer_sdk import typing as th
from typing_extensions import override

from tap_mixoads import streams
from tap_mixoads.errors import AccountFailedError, RunInterruptedError
from tap_mixoads.run import RunContext
from tap_mixoads.settings import config_problems, raise_for_problems
from tap_mixoads.writer import FastSingerWriter

#: The taps created by the current ``invoke`` (to read their verdict after
#: the SDK's sync). Set only while ``invoke`` runs.
_RUNS: contextvars.ContextVar[list[TapMixoAds] | None] = contextvars.ContextVar(
    "tap_mixoads_runs", default=None
)


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

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        runs = _RUNS.get()
        if runs is not None:
            runs.append(self)
        # Replace the SDK's handlers, which exit 0 ("Gracefully shutting
        # down") and write a final state as if the run had completed.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._on_signal)
            signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, _frame: types.FrameType | None) -> None:
        """Stop every API call at once and unwind as an interrupted run."""
        self.run.stop.set()
        raise RunInterruptedError(signum)

    @classmethod
    @override
    def invoke(cls, **kwargs: t.Any) -> None:
        """Run the tap; then fail if an account failed (after its state was saved).

        The SDK's ``sync_all`` writes every stream's final state and returns;
        an account that failed must still make the run exit non-zero, so the
        verdict is read here, after it.

        Raises:
            AccountFailedError: one line naming each failed account.
        """
        token = _RUNS.set([])
        try:
            super().invoke(**kwargs)
            failures = [f for tap in _RUNS.get() or [] for f in tap.run_failures()]
        finally:
            _RUNS.reset(token)
        if failures:
            raise AccountFailedError("; ".join(failures))

    def run_failures(self) -> list[str]:
        """One short sentence per failed account, for the final line."""
        if "run" not in self.__dict__:
            return []
        return [
            f"account '{client_id}' failed: {why}"
            for client_id, why in self.run.failures.items()
        ]

    @override
    def discover_streams(self) -> list[streams.CampaignsStream]:
        """The streams this tap offers, handed the run's resources explicitly."""
        return [streams.CampaignsStream(self, run=self.run)]

    @functools.cached_property
    def run(self) -> RunContext:
        """The run's accounts and clients (built on first use, not for --about)."""
        return RunContext(self.config, self.logger)

    @override
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
