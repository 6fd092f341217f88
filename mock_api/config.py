"""Knobs and named profiles of the mock Ad Platform API.

Every behaviour of the mock (limits, delays, each failure mode) is a knob on
one flat dataclass, so that the CLI, environment variables, the harness and
the runtime ``/_mock/config`` endpoint all change the same thing the same way.
A profile is only a named set of knob values; any knob can be overridden on
top of it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: Where the vendor's published demo credentials live: one place for the
#: tap's users, the demo and this mock (test credentials only).
DEMO_CREDENTIALS_FILE = Path(__file__).resolve().parent.parent / ".env.example"


def _demo_value(key: str) -> str:
    """Read one ``KEY=value`` line of ``.env.example``."""
    for line in DEMO_CREDENTIALS_FILE.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == key:
            return value.strip()
    raise ConfigError(f"{key} not found in {DEMO_CREDENTIALS_FILE}")


def demo_email() -> str:
    """The vendor's demo account email."""
    return _demo_value("TAP_MIXOADS_EMAIL")


def demo_password() -> str:
    """The vendor's demo account password."""
    return _demo_value("TAP_MIXOADS_PASSWORD")


ENV_PREFIX = "MOCK_API_"

RATE_KNOBS = (
    "error_rate",
    "sync_error_rate",
    "hang_rate",
    "html_500_rate",
    "reset_rate",
    "truncated_json_rate",
    "slow_body_rate",
    "token_error_rate",
    "missing_field_rate",
    "wrong_type_rate",
    "extra_field_rate",
)


class ConfigError(ValueError):
    """A knob name or value that the mock cannot accept."""


@dataclasses.dataclass
class Config:
    """All knobs; the defaults are the documented vendor behaviour."""

    campaigns: int = 100
    max_limit: int = 10000
    vendor_quirks: bool = True
    # Rate limiting.
    rate_limit: int = 10
    rate_window: float = 60.0
    count_rejected: bool = True
    retry_after_mode: str = "window"
    retry_after_header: bool = True
    retry_after_body: bool = True
    # Auth.
    email: str = dataclasses.field(default_factory=demo_email)
    password: str = dataclasses.field(default_factory=demo_password)
    token_ttl: float = 3600.0
    token_error_rate: float = 0.0
    # Sync.
    sync_delay: float = 2.0
    sync_error_rate: float = 0.0
    sync_fail_ids: tuple[str, ...] = ()
    # Transport-level faults.
    error_rate: float = 0.2
    hang_rate: float = 0.1
    hang_seconds: float = 300.0
    html_500_rate: float = 0.0
    reset_rate: float = 0.0
    truncated_json_rate: float = 0.0
    slow_body_rate: float = 0.0
    slow_body_seconds: float = 1.0
    # Data faults.
    missing_field_rate: float = 0.0
    wrong_type_rate: float = 0.0
    extra_field_rate: float = 0.0
    total_drift: int = 0
    # Randomness: None draws a fresh seed from the OS.
    seed: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the knobs as plain JSON types (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["sync_fail_ids"] = list(self.sync_fail_ids)
        return out


_VENDOR: dict[str, Any] = {}
_FAST: dict[str, Any] = {
    "rate_window": 3.0,
    "hang_seconds": 30.0,
    "sync_delay": 0.2,
    "token_ttl": 20.0,
}
PROFILES: dict[str, dict[str, Any]] = {
    "vendor": _VENDOR,
    "fast": _FAST,
    "calm": {
        "rate_limit": 0,
        "error_rate": 0.0,
        "hang_rate": 0.0,
        "sync_delay": 0.0,
        "token_ttl": 3600.0,
        "vendor_quirks": False,
    },
    "chaos": {
        **_FAST,
        "html_500_rate": 0.05,
        "reset_rate": 0.05,
        "truncated_json_rate": 0.05,
        "slow_body_rate": 0.05,
        "slow_body_seconds": 1.0,
        "token_error_rate": 0.2,
        "token_ttl": 5.0,
        "missing_field_rate": 0.02,
        "wrong_type_rate": 0.05,
        "extra_field_rate": 0.05,
        "total_drift": 3,
    },
}

KNOBS: dict[str, dataclasses.Field[Any]] = {
    f.name: f for f in dataclasses.fields(Config)
}
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


def coerce(name: str, value: Any) -> Any:
    """Convert a knob value from text or JSON into the knob's type.

    One converter serves the CLI, env vars and the runtime endpoint, so a
    value means the same thing wherever it comes from.
    """
    if name not in KNOBS:
        raise ConfigError(f"unknown knob: {name}")
    kind = str(KNOBS[name].type)
    try:
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


def _validate(cfg: Config) -> None:
    for name in RATE_KNOBS:
        rate = getattr(cfg, name)
        if not 0.0 <= rate <= 1.0:
            raise ConfigError(f"{name} must be within [0, 1], got {rate}")
    if cfg.retry_after_mode not in {"window", "exact"}:
        raise ConfigError("retry_after_mode must be 'window' or 'exact'")
    if cfg.rate_limit < 0 or cfg.rate_window <= 0:
        raise ConfigError("rate_limit must be >= 0 and rate_window > 0")
    if cfg.campaigns < 0 or cfg.max_limit < 1 or cfg.total_drift < 0:
        raise ConfigError("campaigns/total_drift must be >= 0, max_limit >= 1")
    if cfg.token_ttl <= 0:
        raise ConfigError("token_ttl must be > 0")


def apply(cfg: Config, changes: Mapping[str, Any]) -> Config:
    """Return a copy of ``cfg`` with ``changes`` applied and validated."""
    values = {name: coerce(name, value) for name, value in changes.items()}
    new = dataclasses.replace(cfg, **values)
    _validate(new)
    return new


def env_knobs(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Collect ``MOCK_API_<KNOB>`` variables that name a real knob."""
    env = os.environ if environ is None else environ
    out = {}
    for name in KNOBS:
        key = ENV_PREFIX + name.upper()
        if key in env:
            out[name] = env[key]
    return out


def build(profile: str, overrides: Mapping[str, Any] | None = None) -> Config:
    """Build the config of a named profile with overrides on top."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; one of {sorted(PROFILES)}")
    merged = {**PROFILES[profile], **(overrides or {})}
    return apply(Config(), merged)
