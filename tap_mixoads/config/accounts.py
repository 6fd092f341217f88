"""The accounts a run serves: the ``accounts`` setting, or the top-level one.

Each account is a client id with its own credentials and budget. When
``accounts`` is absent, the top-level ``email``, ``password``, ``client_id``
and ``requests_per_minute`` form the one account, as before accounts existed.
An account entry without email or password borrows the top-level ones.

With ``shard`` set (``"K/N"``), the run serves only the accounts whose client
id falls in shard K of N (tap_mixoads.config.shards); without ``accounts``, the one
top-level account is in exactly one of the N shards, by the same rule, so
the other shards run nothing.
"""

from __future__ import annotations

import dataclasses
import typing as t

from tap_mixoads.config.shards import Shard


@dataclasses.dataclass(frozen=True)
class Account:
    """One client account (the password is never shown in ``repr``)."""

    client_id: str
    email: str
    password: str = dataclasses.field(repr=False)
    requests_per_minute: float
    #: The shard this run serves, when ``shard`` is set (shown in the label).
    shard: Shard | None = None

    @property
    def label(self) -> str:
        """How log lines name the account (and the shard, when one is set)."""
        if self.shard is None:
            return f"[client {self.client_id}] "
        return f"[client {self.client_id} shard {self.shard}] "


def shard_from_config(config: t.Mapping[str, t.Any]) -> Shard | None:
    """The ``shard`` setting, parsed (None: every account).

    Call on a validated config (settings.py has checked the text).
    """
    text = config.get("shard")
    return Shard.parse(str(text)) if text else None


def configured_accounts(config: t.Mapping[str, t.Any]) -> list[Account]:
    """Every configured account, in the order configured, shard or not.

    Call on a validated config (settings.py has checked that every account
    has credentials, its own or the top-level ones, and that client ids are
    unique).
    """
    shard = shard_from_config(config)
    default_rpm = float(config.get("requests_per_minute") or 10)
    entries = config.get("accounts") or [{}]
    return [
        Account(
            client_id=str(entry.get("client_id") or config.get("client_id")),
            email=str(entry.get("email") or config.get("email")),
            password=str(entry.get("password") or config.get("password")),
            requests_per_minute=float(entry.get("requests_per_minute") or default_rpm),
            shard=shard,
        )
        for entry in entries
    ]


def accounts_from_config(config: t.Mapping[str, t.Any]) -> list[Account]:
    """The run's accounts: those of its shard (all when no shard is set)."""
    return [
        account
        for account in configured_accounts(config)
        if account.shard is None or account.shard.holds(account.client_id)
    ]


def empty_shard_note(config: t.Mapping[str, t.Any]) -> str | None:
    """The warning for a shard that holds no account (None if it holds one).

    Not an error: an orchestrator runs N fixed shards, and over a small
    fleet some of them may hold no account; such a run reads nothing, syncs
    nothing, passes the state on unchanged and exits 0.
    """
    shard = shard_from_config(config)
    if shard is None or accounts_from_config(config):
        return None
    total = len(configured_accounts(config))
    return (
        f"shard {shard}: none of the {total} configured account(s) falls in "
        "this shard; nothing to do (not an error)"
    )
