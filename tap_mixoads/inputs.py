"""The tap's inputs, read strictly: the config (files, env vars) and ``--state``.

The SDK parses ``--config`` and ``--state`` files with a bare JSON load, so
a truncated or malformed file ends in a traceback, and guesses the types of
env vars; :class:`~tap_mixoads.tap.TapMixoAds` reads them here first. A bad
file or value is one line naming it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import typing as t
from pathlib import Path

from tap_mixoads.config.checks import config_problems, raise_for_problems
from tap_mixoads.config.sources import coerce, env_config, read_config_file
from tap_mixoads.sync.change import change_fields_problem
from tap_mixoads.sync.state import START_FRESH, StateError, parse_state

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import PurePath

    from tap_mixoads.config.settings import Settings

#: What ``--config`` may be: a dict, or files (the SDK's deprecated form).
ConfigInput: t.TypeAlias = (
    "dict[str, t.Any] | PurePath | str | list[PurePath | str] | None"
)


def typed_config(
    config: ConfigInput,
    schema: dict[str, t.Any],
    *,
    env_prefix: str | None,
    validate: bool,
    api_fields: Sequence[str],
) -> dict[str, t.Any]:
    """The config with every value of its setting's declared type.

    Env vars (with ``env_prefix``; None: not read) and text from ``.env`` or
    Meltano are parsed by each setting's type, then, if ``validate``, the
    config is checked with one-line, secret-free messages.

    Raises:
        ConfigError: if ``validate`` and the config has a problem.
    """
    given = config_as_dict(config)
    problems: list[str] = []
    if env_prefix is not None:
        from_env, problems = env_config(schema, env_prefix)
        given.update(from_env)
    typed, more = coerce(given, schema)
    if validate:
        problems += more + config_problems(typed, schema)
        fields = typed.get("sync_change_fields")
        if isinstance(fields, list) and not problems:
            problem = change_fields_problem(fields, api_fields)
            problems += [problem] if problem else []
        raise_for_problems(problems)
    return typed


def read_state_file(handle: t.IO[str]) -> str:
    """The ``--state`` file's text, if it is JSON (else one clear line).

    Raises:
        StateError: the file is not valid JSON (truncated, say).
    """
    name = getattr(handle, "name", "--state")
    text = handle.read()
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        msg = (
            f"Invalid state: the --state file {name} is not valid JSON ({exc}); "
            f"{START_FRESH}"
        )
        raise StateError(msg) from None
    parse_state(parsed)  # the SDK takes anything but an object for a path
    return text


def private_copy(config: dict[str, t.Any]) -> str:
    """A temporary file (mode 0600, from ``mkstemp``) holding ``config``."""
    fd, path = tempfile.mkstemp(prefix="tap-mixoads-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(config, fh)
    return path


def config_as_dict(config: ConfigInput) -> dict[str, t.Any]:
    """The config as one dict; files (the SDK's deprecated form) read strictly."""
    if config is None:
        return {}
    if isinstance(config, dict):
        return dict(config)
    paths = config if isinstance(config, list) else [config]
    merged: dict[str, t.Any] = {}
    for path in paths:
        merged.update(read_config_file(path))
    return merged


@contextlib.contextmanager
def config_paths(value: Sequence[str]) -> Iterator[list[str]]:
    """The ``--config`` values to hand the SDK, each file read and checked first.

    A bad file is one line naming it (:func:`read_config_file`). A file that
    can be read only once (a pipe, as in ``--config <(vault read ...)``) is
    handed on as a private temporary copy, removed when the block ends (once
    the SDK has read it), as it is when a later file is bad.
    """
    paths: list[str] = []
    copies: list[str] = []
    try:
        for path in value:
            if path == "ENV":
                paths.append(path)
                continue
            config = read_config_file(path)  # a bad file: one line naming it
            if Path(path).is_file():
                paths.append(path)
            else:  # a pipe: the SDK could not read it again
                copies.append(private_copy(config))
                paths.append(copies[-1])
        yield paths
    finally:
        for copy_path in copies:
            Path(copy_path).unlink(missing_ok=True)


def settings_notes(
    typed: dict[str, t.Any], settings: Settings
) -> Iterator[tuple[int, str]]:
    """What the settings say before a run starts: (log level, line) pairs."""
    if typed.get("sync_enabled") is True:
        yield (
            logging.WARNING,
            "sync_enabled is deprecated and changes nothing: sync_mode is "
            "the one switch (all, failed or none); remove sync_enabled",
        )
    if settings.sync_retry_dead and settings.sync_mode != "failed":
        yield (
            logging.WARNING,
            f"sync_retry_dead is on but sync_mode is {settings.sync_mode}: it "
            "only acts in sync_mode failed (dead campaigns are retried by a "
            "failed run)",
        )
    if settings.schema_only:
        yield (
            logging.INFO,
            "schema_only: writing the selected streams' SCHEMA only; no API "
            "call, no record",
        )
