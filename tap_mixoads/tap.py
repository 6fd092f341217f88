"""TapMixoAds: the SDK's entry point: config intake, streams, state, signals.

Config handling goes through public SDK hooks only: ``__init__`` (typed env
vars, coercion, one-line checks), ``cb_config`` (a malformed ``--config``
file is one line) and ``cb_test``. The SDK itself validates the config
against :mod:`tap_mixoads.config.schema` and fills in its defaults; the
settings are then read once (:mod:`tap_mixoads.config.settings`). No private
SDK method is overridden.
"""

from __future__ import annotations

import contextvars
import copy
import functools
import io
import logging
import signal
import threading
import types
import typing as t

from singer_sdk import Tap, metrics
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from singer_sdk.streams import Stream
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from tap_mixoads import selftest, streams
from tap_mixoads.config.schema import CONFIG_SCHEMA
from tap_mixoads.config.settings import Settings
from tap_mixoads.engine.run import RunContext
from tap_mixoads.errors import AccountFailedError, ConfigError, RunInterruptedError
from tap_mixoads.inputs import (
    config_paths,
    read_state_file,
    settings_notes,
    typed_config,
)
from tap_mixoads.singer.writer import FastSingerWriter
from tap_mixoads.streams.selection import check_selection, leave_out_sync_columns
from tap_mixoads.sync.state import parse_state

if t.TYPE_CHECKING:
    import click
    from singer_sdk.helpers.capabilities import CapabilitiesEnum

    from tap_mixoads.inputs import ConfigInput


#: The taps created by the current ``invoke`` (to read their verdict after
#: the SDK's sync). Set only while ``invoke`` runs.
_RUNS: contextvars.ContextVar[list[TapMixoAds] | None] = contextvars.ContextVar(
    "tap_mixoads_runs", default=None
)


class TapMixoAds(Tap):
    """Singer tap for the Mixo Ads Ad Platform API."""

    name = "tap-mixoads"
    message_writer_class = FastSingerWriter

    #: What the tap really does, each tested: no BATCH messages (never
    #: tested) and no ACTIVATE_VERSION (the SDK emits it only with a setting
    #: this tap does not take).
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    #: The one source of truth for the settings (config/schema.py).
    config_jsonschema = CONFIG_SCHEMA

    @override
    def __init__(
        self,
        *,
        config: ConfigInput = None,
        parse_env_config: bool = False,
        validate_config: bool = True,
        **kwargs: t.Any,
    ) -> None:
        """Build the tap from a typed, checked config.

        Text from the environment, ``.env`` or Meltano is parsed by each
        setting's declared type, then the config is checked with one-line,
        secret-free messages; the SDK then validates again and fills in the
        schema's defaults. Env vars are read here, not by the SDK (it gets
        ``parse_env_config=False``), because its parser guesses types and
        lets ``.env`` override the environment (see config_sources).

        Raises:
            ConfigError: if ``validate_config`` and the config has a problem.
        """
        #: Whether the config was checked (else settings are read leniently).
        self.config_checked = validate_config
        typed = typed_config(
            config,
            type(self).full_config_schema(),
            # TAP_MIXOADS_
            env_prefix=f"{self.name.upper().replace('-', '_')}_"
            if parse_env_config
            else None,
            validate=validate_config,
            api_fields=streams.CampaignsStream.API_FIELDS,
        )
        try:
            super().__init__(
                config=typed,
                parse_env_config=False,
                validate_config=validate_config,
                **kwargs,
            )
        except ConfigValidationError as exc:
            # Not reached while config_problems checks the same schema; the
            # SDK's messages may quote a secret value, so only count them.
            msg = f"Invalid config: {len(exc.errors)} problem(s) in the schema check"
            raise ConfigError(msg) from None
        # The SDK's METRIC lines go to one logger at INFO: a level above it
        # silences them without touching the tap's own lines.
        logging.getLogger(metrics.METRICS_LOGGER_NAME).setLevel(
            self.settings.metrics_log_level
        )
        runs = _RUNS.get()
        if runs is not None:
            runs.append(self)
        for level, line in settings_notes(typed, self.settings):
            self.logger.log(level, "%s", line)
        # Replace the SDK's handlers, which exit 0 ("Gracefully shutting
        # down") and write a final state as if the run had completed.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._on_signal)
            signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, _frame: types.FrameType | None) -> None:
        """Stop every API call at once and unwind as an interrupted run.

        Once the last selected stream has emitted its last record, what is
        left is the final STATE and the exit (a few ms): exiting 128 + signum
        then would call a finished run interrupted, so the signal is noted
        and the run ends as it would have, with its own status.
        """
        if "run" in self.__dict__ and self.run.records_complete:
            self.logger.info(
                "%s after the last record: the output is complete; writing the "
                "final STATE and exiting with the run's own status",
                signal.Signals(signum).name,
            )
            return
        self.run.stop.set()
        raise RunInterruptedError(signum)

    @classmethod
    def full_config_schema(cls) -> dict[str, t.Any]:
        """``config_jsonschema`` plus the SDK's built-ins (stream maps, ...)."""
        schema = copy.deepcopy(cls.config_jsonschema)
        cls.append_builtin_config(schema)
        return schema

    @override
    @classmethod
    def cb_config(
        cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]
    ) -> t.Any:
        """Check every ``--config`` file first: a bad one is one line naming it.

        The SDK reads them with a bare JSON parse, so a trailing comma would
        end in a traceback. A file that can be read only once (a pipe, as in
        ``--config <(vault read ...)``) is handed to the SDK as a private
        temporary copy, removed as soon as the SDK has read it.
        """
        with config_paths(value) as paths:
            return super().cb_config(ctx, param, tuple(paths))

    @override
    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """``--test``: exit 0 only if a record was read, with no false alarm.

        See :mod:`tap_mixoads.selftest` for what the SDK's own test does wrong.
        """
        if value != CliTestOptionValue.All.value:
            super().cb_test(ctx, param, value)
            return
        selftest.run(cls, ctx)

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
        state_file = kwargs.get("state")
        if state_file is not None:
            # The SDK parses --state with a bare JSON load: a truncated file
            # would end in a traceback. Read it here, once, and hand on the
            # text (the whole state is then checked by ``load_state``).
            kwargs["state"] = io.StringIO(read_state_file(state_file))
        token = _RUNS.set([])
        try:
            super().invoke(**kwargs)
            failures = [f for tap in _RUNS.get() or [] for f in tap.run_failures()]
        finally:
            for tap in _RUNS.get() or []:
                tap.close_run()  # after an interrupt too
            _RUNS.reset(token)
        if failures:
            raise AccountFailedError("; ".join(failures))

    @override
    def setup_mapper(self) -> None:
        """Check the catalog's selection; in ``sync_mode: none``, narrow it.

        See :mod:`tap_mixoads.streams.selection`: a catalog selecting the run
        streams without ``campaigns`` is refused, and a read-only run leaves
        the sync columns out of the campaigns SCHEMA.
        """
        if not self.settings.schema_only:  # SCHEMA only: no run needed
            check_selection(self.catalog)
        if self.settings.sync_mode == "none":
            leave_out_sync_columns(self.catalog)
        super().setup_mapper()

    @override
    def load_state(self, state: dict[str, t.Any]) -> None:
        """Take the prior state through the one validating parser.

        A bad whole state (not made of objects) stops the run with one line
        saying how to start fresh; a bad entry is dropped with a warning
        naming its account and campaign.

        Raises:
            StateError: the state as a whole cannot be used.
        """
        parsed = parse_state(state)
        for line in parsed.warnings():
            self.logger.warning("%s", line)
        super().load_state(parsed.state)

    def close_run(self) -> None:
        """Close the run's connections and event loop (if it has any)."""
        if "run" in self.__dict__:
            self.run.close()

    def run_failures(self) -> list[str]:
        """One short sentence per failed account, for the final line."""
        if "run" not in self.__dict__:
            return []
        if not self.settings.several_accounts:
            # One account, as before accounts existed: the reason alone.
            return list(self.run.failures.values())
        return [
            f"account '{client_id}' failed: {why}"
            for client_id, why in self.run.failures.items()
        ]

    @override
    def discover_streams(self) -> list[Stream]:
        """The streams this tap offers, handed the run's resources explicitly."""
        events = streams.SyncEventsStream(self, run=self.run)
        offered: list[Stream] = [
            streams.CampaignsStream(self, run=self.run, events=events),
            events,
            streams.SyncRunsStream(self, run=self.run),
        ]
        self.run.streams = offered
        return offered

    @functools.cached_property
    def settings(self) -> Settings:
        """The settings, typed and frozen (parsed once, on first use)."""
        return Settings.from_config(
            self.config, self.config_jsonschema, lenient=not self.config_checked
        )

    @functools.cached_property
    def run(self) -> RunContext:
        """The run's accounts and clients (built on first use, not for --about)."""
        return RunContext(self.settings, self.logger)
