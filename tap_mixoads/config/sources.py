"""Reading settings from files and the environment as their declared types.

Every source but a JSON config file delivers text: environment variables,
``.env``, and Meltano for settings it declares as ``kind: string`` (numbers:
Meltano 4.4.1 cannot write a ``kind: decimal`` value read from an env var).
The SDK's own env parser turns integers into ``int`` with a traceback on
``1e5``, leaves numbers as text the schema then rejects, and reads any word
but true/1/yes/on as false, so a typo silently turns a feature off. Here the
schema (``config_jsonschema``) says what each setting is, and text is parsed
strictly by that type; a value that does not parse is one problem line that
names the setting and never quotes a secret.
"""

from __future__ import annotations

import json
import math
import os
import re
import typing as t
from pathlib import Path

from dotenv import dotenv_values

from tap_mixoads.errors import ConfigError

#: Text accepted for a boolean setting, any case. Anything else is an error:
#: ``nope`` must not quietly mean false.
TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})
_INTEGER = re.compile(r"[+-]?\d+")


class SettingValueError(ValueError):
    """A text value that is not of its setting's declared type."""


def declared_types(spec: t.Mapping[str, t.Any]) -> list[str]:
    """The JSON types a setting's schema allows, ``null`` left out."""
    types = spec.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    return [name for name in types if name != "null"]


def contains_secret(spec: t.Any) -> bool:
    """Whether a schema, or anything nested in it, is marked ``secret``.

    Secrets are declared once, with ``secret=True`` in ``config_jsonschema``;
    everything that must hide a value (error messages, Meltano's ``sensitive``)
    asks this instead of keeping its own list.
    """
    if isinstance(spec, t.Mapping):
        if spec.get("secret") is True:
            return True
        return any(contains_secret(value) for value in spec.values())
    if isinstance(spec, list):
        return any(contains_secret(item) for item in spec)
    return False


def secret_settings(schema: t.Mapping[str, t.Any]) -> frozenset[str]:
    """Top-level settings whose value is, or holds, a secret."""
    return frozenset(
        name
        for name, spec in schema.get("properties", {}).items()
        if contains_secret(spec)
    )


def parse_text(text: str, spec: t.Mapping[str, t.Any]) -> t.Any:
    """Parse ``text`` as the type ``spec`` declares.

    Raises:
        SettingValueError: with a reason that never quotes the value.
    """
    types = declared_types(spec)
    if "integer" in types:
        if not _INTEGER.fullmatch(text.strip()):
            raise SettingValueError("is not a whole number")
        return int(text)
    if "number" in types:
        try:
            number = float(text)
        except ValueError:
            raise SettingValueError("is not a number") from None
        if not math.isfinite(number):
            raise SettingValueError("is not a finite number")
        return number
    if "boolean" in types:
        word = text.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise SettingValueError("is not a boolean (use true/false, 1/0 or yes/no)")
    if "array" in types or "object" in types:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SettingValueError(f"is not valid JSON ({exc.msg})") from None
        wanted = "array" if "array" in types else "object"
        if not isinstance(value, list if wanted == "array" else dict):
            raise SettingValueError(f"is not a JSON {wanted}")
        return value
    return text


def _describe(name: str, text: str, reason: str, *, secret: bool, source: str) -> str:
    shown = "its value" if secret else repr(text)
    return f"setting '{name}'{source}: {shown} {reason}"


def coerce(
    config: t.Mapping[str, t.Any], schema: t.Mapping[str, t.Any]
) -> tuple[dict[str, t.Any], list[str]]:
    """Turn text values into their declared types; return (config, problems).

    A value that is already typed is left alone (the schema check judges it);
    text for a non-string setting is parsed, so ``"50"`` from Meltano or a
    JSON file written by hand is 50. A value that does not parse stays as it
    was and is reported.
    """
    properties = schema.get("properties", {})
    out = dict(config)
    problems: list[str] = []
    for name, value in config.items():
        spec = properties.get(name)
        if spec is None or not isinstance(value, str):
            continue
        if "string" in declared_types(spec):
            continue
        try:
            out[name] = parse_text(value, spec)
        except SettingValueError as exc:
            problems.append(
                _describe(
                    name, value, str(exc), secret=contains_secret(spec), source=""
                )
            )
    return out, problems


def env_config(
    schema: t.Mapping[str, t.Any],
    prefix: str,
    *,
    environ: t.Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
) -> tuple[dict[str, t.Any], list[str]]:
    """Settings from ``<PREFIX><NAME>`` variables, typed; return (config, problems).

    ``.env`` in the working directory is read too, but a variable set in the
    environment wins over it, as in Meltano (the SDK lets ``.env`` win). An
    empty variable counts as unset, so ``TAP_MIXOADS_PAGE_SIZE=`` in a copied
    ``.env`` means "use the default".
    """
    environ = os.environ if environ is None else environ
    dotenv_path = Path.cwd() / ".env" if dotenv_path is None else dotenv_path
    values: dict[str, str | None] = {}
    if dotenv_path.is_file():
        values.update(dotenv_values(dotenv_path))
    values.update(environ)
    config: dict[str, t.Any] = {}
    problems: list[str] = []
    for name, spec in schema.get("properties", {}).items():
        var = prefix + name.upper().replace("-", "_")
        text = values.get(var)
        if text is None or text == "":
            continue
        try:
            config[name] = parse_text(text, spec)
        except SettingValueError as exc:
            problems.append(
                _describe(
                    name,
                    text,
                    str(exc),
                    secret=contains_secret(spec),
                    source=f" (from {var})",
                )
            )
    return config, problems


def read_config_file(path: str | os.PathLike[str]) -> dict[str, t.Any]:
    """One JSON config file as a dict.

    Raises:
        ConfigError: naming the file, if it is missing, unreadable, not JSON
            or not an object (the JSON error's position, never its text).
    """
    where = f"config file {os.fspath(path)}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"Invalid config: {where} cannot be read ({exc.strerror or exc})"
        raise ConfigError(msg) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = (
            f"Invalid config: {where} is not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno})"
        )
        raise ConfigError(msg) from None
    if not isinstance(value, dict):
        msg = f"Invalid config: {where} must hold a JSON object"
        raise ConfigError(msg)
    return value
