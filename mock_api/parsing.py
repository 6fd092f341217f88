"""Knob values from text or JSON: one converter for CLI, env and runtime.

A knob set with ``--set``, ``MOCK_API_<KNOB>`` or ``POST /_mock/config`` goes
through the same function, so a value means the same thing wherever it comes
from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ConfigError(ValueError):
    """A knob name or value that the mock cannot accept."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name}: not a boolean: {value!r}")


def _parse_ids(value: Any) -> tuple[str, ...]:
    """Accept a list or a comma string; bare numbers mean ``campaign_<n>``."""
    items: Iterable[Any] = value.split(",") if isinstance(value, str) else value
    out = []
    for item in items:
        text = str(item).strip()
        if text:
            out.append(f"campaign_{text}" if text.isdigit() else text)
    return tuple(out)


def _parse_names(value: Any) -> tuple[str, ...]:
    """Accept a list or a comma string of plain names."""
    items: Iterable[Any] = value.split(",") if isinstance(value, str) else value
    return tuple(text for text in (str(i).strip() for i in items) if text)


def _parse_repeats(value: Any) -> tuple[str, ...]:
    """Accept ``<id>@<page>`` items; a bare number id means ``campaign_<n>``."""
    out = []
    for item in _parse_names(value):
        cid, sep, page = item.rpartition("@")
        if not sep or not cid or not page.strip().isdigit() or int(page) < 1:
            raise ConfigError(f"repeat_campaign: expected <id>@<page>, got {item!r}")
        cid = cid.strip()
        out.append(f"{_parse_ids(cid)[0]}@{int(page)}")
    return tuple(out)


def _parse_account_ids(name: str) -> Any:
    """``<account>:<id>`` items (a bare number id means ``campaign_<n>``)."""

    def parse(value: Any) -> tuple[str, ...]:
        out = []
        for item in _parse_names(value):
            account, sep, cid = item.partition(":")
            if not sep or not account.strip().isdigit() or not cid.strip():
                raise ConfigError(f"{name}: expected <account>:<id>, got {item!r}")
            out.append(f"{int(account)}:{_parse_ids(cid.strip())[0]}")
        return tuple(out)

    return parse


_PARSERS = {
    "repeat_campaign": _parse_repeats,
    "bad_values": _parse_names,
    "edited_campaigns": _parse_account_ids("edited_campaigns"),
    "deleted_campaigns": _parse_account_ids("deleted_campaigns"),
}


def parse_value(name: str, kind: str, value: Any) -> Any:
    """Convert ``value`` into knob ``name``'s type, spelled ``kind``."""
    try:
        if name in _PARSERS:
            return _PARSERS[name](value)
        if kind == "bool":
            return _parse_bool(name, value)
        if kind == "tuple[str, ...]":
            return _parse_ids(value)
        if kind == "int | None":
            if value is None or str(value).strip().lower() in {"", "none", "null"}:
                return None
            return int(value)
        if isinstance(value, bool):
            raise ConfigError(f"{name}: expected a number, got a boolean")
        if kind == "int":
            number = float(value)
            if not number.is_integer():
                raise ConfigError(f"{name}: not an integer: {value!r}")
            return int(number)
        if kind == "float":
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{name}: bad value {value!r}: {exc}") from exc
