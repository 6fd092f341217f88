"""The accounts a run serves: the ``accounts`` setting, or the top-level one.

Each account is a client id with its own credentials and budget. When
``accounts`` is absent, the top-level ``email``, ``password``, ``client_id``
and ``requests_per_minute`` form the one account, as before accounts existed.
An account entry without email or password borrows the top-level ones.
"""

from __future__ import annotations

import dataclasses
import typing as t

from tap_mixoads.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Account:
    """One client account (the password is never shown in ``repr``)."""

    client_id: str
    email: str
    password: str = dataclasses.field(repr=False)
    requests_per_minute: float

    @property
    def label(self) -> str:
        """How log lines name the account."""
        return f"[client {self.client_id}] "


def accounts_from_config(config: t.Mapping[str, t.Any]) -> list[Account]:
    """The run's accounts, in the order configured.

    Raises:
        ConfigError: an account lacks credentials, or a client id repeats.
    """
    default_rpm = float(config.get("requests_per_minute") or 10)
    entries = config.get("accounts") or [
        {
            "client_id": config.get("client_id") or "tap-mixoads",
            "email": config.get("email"),
            "password": config.get("password"),
            "requests_per_minute": default_rpm,
        }
    ]
    accounts: list[Account] = []
    seen: set[str] = set()
    for entry in entries:
        client_id = str(entry.get("client_id") or "")
        email = entry.get("email") or config.get("email")
        password = entry.get("password") or config.get("password")
        if not client_id:
            msg = "Invalid config: setting 'accounts': an account has no client_id"
            raise ConfigError(msg)
        if client_id in seen:
            msg = (
                f"Invalid config: setting 'accounts': client_id '{client_id}' "
                "appears twice"
            )
            raise ConfigError(msg)
        if not email or not password:
            msg = (
                f"Invalid config: setting 'accounts': account '{client_id}' has no "
                "email and password, and no top-level ones to borrow"
            )
            raise ConfigError(msg)
        seen.add(client_id)
        accounts.append(
            Account(
                client_id=client_id,
                email=str(email),
                password=str(password),
                requests_per_minute=float(
                    entry.get("requests_per_minute") or default_rpm
                ),
            )
        )
    return accounts
