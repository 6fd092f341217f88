"""The tap's inputs, read strictly: the config (files, env vars) and ``--state``.

The SDK parses ``--config`` and ``--state`` files with a bare JSON load, so
a truncated or malformed file ends in a traceback, and guesses the types of
env vars; :class:`~tap_mixoads.tap.TapMixoAds` reads them here first. A bad
file or value is one line naming it.
"""

from __future__ import annotations

import json
import os
import tempfile
import typing as t

from tap_mixoads.config.checks import config_problems, raise_for_problems
from tap_mixoads.config.sources import coerce, env_config, read_config_file
from tap_mixoads.sync.change import change_fields_problem
from tap_mixoads.sync.state import START_FRESH, StateError, parse_state

if t.TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import PurePath

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
