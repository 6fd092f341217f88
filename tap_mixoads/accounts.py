"""The accounts a run serves: the ``accounts`` setting, or the top-level one.

Each account is a client id with its own credentials and budget. When
``accounts`` is absent, the top-level ``email``, ``password``, ``client_id``
and ``requests_per_minute`` form the one account, as before accounts existed.
An account entry without email or password borrows the top-level ones.
"""

from __future__ import annotations

import dataclasses
import typing as t


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

    Call on a validated config (settings.py has checked that every account
    has credentials, its own or the top-level ones, and that client ids are
    unique).
    """
    default_rpm = float(config.get("requests_per_minute") or 10)
    entries = config.get("accounts") or [{}]
    return [
        Account(
            client_id=str(entry.get("client_id") or config.get("client_id")),
            email=str(entry.get("email") or config.get("email")),
            password=str(entry.get("password") or config.get("password")),
            requests_per_minute=float(entry.get("requests_per_minute") or default_rpm),
        )
        for entry in entries
    ]
