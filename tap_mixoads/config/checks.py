"""Checking the config before any API call, with one clear line per problem.

JSON Schema (``config_jsonschema`` in tap.py) is the single source of truth
for names, types, ranges and which settings are secret; this module turns its
verdicts into messages that name the setting, and adds the checks a schema
cannot express well: ``api_url`` must be an http(s) URL with a host, unknown
keys are typos, credentials come either from ``accounts`` or from the
top-level ``email``/``password``, client ids are unique, and
``shared_budget_url`` has a scheme the shared budget can use, and ``shard``
is ``K/N`` with 1 <= K <= N. What the settings mean together (the
deadline, the accounts) is :mod:`tap_mixoads.config.settings`.
"""

from __future__ import annotations

import typing as t
from collections import Counter
from urllib.parse import urlsplit

from jsonschema.validators import validator_for

from tap_mixoads.config.shards import Shard
from tap_mixoads.config.sources import contains_secret
from tap_mixoads.errors import ConfigError

if t.TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

#: Schemes ``shared_budget_url`` may use: Postgres (shared by every process
#: that can reach it) or a SQLite file (processes on one machine).
BUDGET_SCHEMES = frozenset({"postgresql", "postgres", "sqlite"})
#: Validators whose message names keys, never quotes a value.
_MESSAGE_IS_SAFE = frozenset({"required", "additionalProperties"})


def _path(parts: t.Iterable[t.Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "config"


def _setting_of(error: ValidationError) -> str:
    path = _path(error.absolute_path)
    if error.validator == "required":
        # "'client_id' is a required property": the key is the first quoted word.
        missing = str(error.message).split("'")[1] if "'" in error.message else ""
        return f"{path}.{missing}" if path != "config" else missing or "config"
    return path


def _schema_at(schema: t.Mapping[str, t.Any], parts: t.Iterable[t.Any]) -> t.Any:
    node: t.Any = schema
    for part in parts:
        if not isinstance(node, t.Mapping):
            return {}
        node = (
            node.get("items", {})
            if isinstance(part, int)
            else node.get("properties", {}).get(part, {})
        )
    return node


def _describe(error: ValidationError, schema: t.Mapping[str, t.Any]) -> str:
    setting = _setting_of(error)
    if error.validator == "required":
        return f"setting '{setting}' is required but missing"
    where = _schema_at(schema, error.absolute_path)
    if error.validator not in _MESSAGE_IS_SAFE and contains_secret(where):
        # The validator's message quotes the value: never for a secret, nor
        # for an object or list that holds one (an account and its password).
        return f"setting '{setting}' is invalid ({error.validator} check failed)"
    return f"setting '{setting}': {error.message}"


def _credential_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    accounts = config.get("accounts")
    if not isinstance(accounts, list) or not accounts:
        return [
            f"setting '{name}' is required but missing (or give 'accounts')"
            for name in ("email", "password")
            if not config.get(name)
        ]
    problems: list[str] = []
    ids = [a.get("client_id") for a in accounts if isinstance(a, t.Mapping)]
    for client_id, count in sorted(Counter(map(str, ids)).items()):
        if count > 1:
            problems.append(
                f"setting 'accounts': client_id '{client_id}' is used by {count} "
                "accounts; each account needs its own"
            )
    for account in accounts:
        if not isinstance(account, t.Mapping):
            continue
        missing = [
            name
            for name in ("email", "password")
            if not account.get(name) and not config.get(name)
        ]
        if missing:
            what = " or ".join(missing)
            problems.append(
                f"setting 'accounts': account '{account.get('client_id')}' has no "
                f"{what} and there is no top-level {what} to fall back on"
            )
    return problems


def _budget_url_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    url = config.get("shared_budget_url")
    if not isinstance(url, str):
        return []
    # Only the scheme and the path are ever shown: the rest may hold a password.
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0].lower()
    if scheme not in BUDGET_SCHEMES:
        shown = f"scheme '{parts.scheme}'" if parts.scheme else "no scheme"
        return [
            f"setting 'shared_budget_url': {shown} is not supported; use "
            "postgresql://user@host/db or sqlite:///path/to/file.db"
        ]
    if scheme == "sqlite" and parts.path in {"", "/"}:
        return ["setting 'shared_budget_url': sqlite:/// needs a file path"]
    return []


def _shard_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    text = config.get("shard")
    if not isinstance(text, str):
        return []  # unset; a wrong type is the schema's message
    try:
        Shard.parse(text)
    except ValueError as exc:
        return [f"setting 'shard': {exc}"]
    return []


def _is_http_url(url: str) -> bool:
    """An http(s) URL with a host (and, if given, a valid port)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:  # e.g. "http://[::1": an unclosed IPv6 bracket
        return False
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


def _header_problem(value: str) -> str | None:
    """Why ``value`` cannot be an HTTP header value, or None."""
    if any(c in value for c in "\r\n\x00"):
        return "holds a line break or NUL"
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return "holds characters outside Latin-1"
    return None


def _client_id_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    """Client ids go into the X-Client-ID header: one line, Latin-1."""
    found: list[tuple[str, t.Any]] = [("client_id", config.get("client_id"))]
    accounts = config.get("accounts")
    if isinstance(accounts, list):
        found.extend(
            (f"accounts[{i}].client_id", entry.get("client_id"))
            for i, entry in enumerate(accounts)
            if isinstance(entry, t.Mapping)
        )
    problems = []
    for setting, value in found:
        if isinstance(value, str) and (why := _header_problem(value)):
            problems.append(
                f"setting '{setting}': {ascii(value)[:80]} {why}; it is sent as "
                "the X-Client-ID header"
            )
    return problems


def config_problems(
    config: t.Mapping[str, t.Any], schema: dict[str, t.Any]
) -> list[str]:
    """Every problem with ``config``, one short sentence each, secrets elided.

    Args:
        config: the config as given (file, env vars, Meltano), typed.
        schema: the full config schema, SDK built-ins included.
    """
    validator = validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=_setting_of)
    problems = [_describe(error, schema) for error in errors]
    known = set(schema.get("properties", {}))
    problems.extend(
        f"setting '{key}' is not a setting of tap-mixoads (a typo?)"
        for key in sorted(set(config) - known)
    )
    api_url = config.get("api_url")
    if isinstance(api_url, str) and not _is_http_url(api_url):
        problems.append(
            f"setting 'api_url': {ascii(api_url)[:200]} is not an http(s) URL "
            "with a host"
        )
    problems.extend(_client_id_problems(config))
    if config.get("sync_enabled") is False:
        problems.append(
            "setting 'sync_enabled' is deprecated, and false is no longer read "
            "as a read-only run (Meltano stores a typo such as 'nope' as false): "
            "set sync_mode: none for a read-only run, and remove sync_enabled"
        )
    if not config.get("schema_only"):  # it makes no API call: no login
        problems.extend(_credential_problems(config))
    problems.extend(_budget_url_problems(config))
    problems.extend(_shard_problems(config))
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
