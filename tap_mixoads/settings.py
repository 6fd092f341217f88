"""Checking the config before any API call, with one clear line per problem.

JSON Schema (``config_jsonschema`` in tap.py) is the single source of truth
for names, types and ranges; this module turns its verdicts into messages
that name the setting, and adds the checks a schema cannot express well
(``api_url`` must be an http(s) URL with a host; unknown keys are typos).
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from jsonschema import Draft7Validator

from tap_mixoads.errors import ConfigError

if t.TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

SECRET_SETTINGS = frozenset({"password"})


def _setting_of(error: ValidationError) -> str:
    if error.validator == "required":
        # "'email' is a required property": the missing key is the first quoted word.
        return str(error.message).split("'")[1] if "'" in error.message else "config"
    return ".".join(str(p) for p in error.absolute_path) or "config"


def _describe(error: ValidationError) -> str:
    setting = _setting_of(error)
    if error.validator == "required":
        return f"setting '{setting}' is required but missing"
    if setting in SECRET_SETTINGS:
        # The validator's message quotes the value: never for a secret.
        return f"setting '{setting}' is invalid ({error.validator} check failed)"
    return f"setting '{setting}': {error.message}"


def config_problems(
    config: t.Mapping[str, t.Any], schema: dict[str, t.Any]
) -> list[str]:
    """Every problem with ``config``, one short sentence each, secrets elided.

    Args:
        config: the config as given (file, env vars, Meltano).
        schema: the full config schema, SDK built-ins included.
    """
    validator = Draft7Validator(schema)
    problems = [
        _describe(error)
        for error in sorted(validator.iter_errors(dict(config)), key=_setting_of)
    ]
    known = set(schema.get("properties", {}))
    problems.extend(
        f"setting '{key}' is not a setting of tap-mixoads (a typo?)"
        for key in sorted(set(config) - known)
    )
    api_url = config.get("api_url")
    if isinstance(api_url, str):
        parts = urlsplit(api_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            problems.append(
                f"setting 'api_url': {api_url!r} is not an http(s) URL with a host"
            )
    return problems


def raise_for_problems(problems: list[str]) -> None:
    """Raise one ConfigError whose single line names the first problem.

    Raises:
        ConfigError: if there is any problem.
    """
    if not problems:
        return
    more = len(problems) - 1
    suffix = f" (and {more} more: {'; '.join(problems[1:])})" if more else ""
    msg = f"Invalid config: {problems[0]}{suffix}"
    raise ConfigError(msg)
