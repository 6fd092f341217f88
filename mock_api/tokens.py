"""Opaque bearer tokens with per-token expiry, as the vendor issues them.

Each token remembers its own issue time (a float, so sub-second TTLs in tests
expire exactly), the TTL in force when it was issued (changing the TTL at
runtime must not silently extend or shorten tokens already handed out) and the
account it was issued to. A token can also be forgotten, as a server restart
would forget it: unlike an expired one it is then simply unknown.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import secrets
import time


@dataclasses.dataclass(frozen=True)
class Token:
    """One issued token."""

    value: str
    issued: float
    ttl: float
    account: int = 1

    @property
    def expires(self) -> float:
        """Unix time at which the token stops working."""
        return self.issued + self.ttl


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """Decode ``Basic base64(email:password)``; None when malformed."""
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    email, sep, password = decoded.partition(":")
    if not sep:
        return None
    return email, password


def parse_bearer(header: str | None) -> str | None:
    """Extract the token of ``Bearer <token>``; None when malformed."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or " " in value:
        return None
    return value


class TokenStore:
    """Issued tokens, looked up on every /api call."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self._forgotten: set[str] = set()

    def issue(self, ttl: float, account: int = 1) -> Token:
        """Mint a new random token valid for ``ttl`` seconds from now."""
        token = Token(secrets.token_urlsafe(32), time.time(), ttl, account)
        self._tokens[token.value] = token
        return token

    def get(self, value: str) -> Token | None:
        """Return the token record, or None for a token never issued."""
        return self._tokens.get(value)

    def forgotten(self, value: str) -> bool:
        """Whether this token was issued and then forgotten."""
        return value in self._forgotten

    def forget(self) -> int:
        """Forget every token issued so far; return how many were live."""
        live = set(self._tokens) - self._forgotten
        self._forgotten |= live
        return len(live)

    def values(self) -> list[str]:
        """Return every token issued since the last reset (forgotten too).

        Forgotten tokens stay listed: tests grep logs for every token ever
        handed out.
        """
        return list(self._tokens)

    def reset(self) -> None:
        """Drop every token (they all become unknown)."""
        self._tokens.clear()
        self._forgotten.clear()
