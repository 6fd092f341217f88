"""Many accounts on one server: who may log in, and what each one owns.

Account 1 is the vendor's demo account (its credentials are the ``email`` and
``password`` knobs, read from ``.env.example`` by default); account k >= 2 has
credentials derived from k, so a test (or a tap config) can name any of them
without a list being shared. Tests import the helpers below instead of
spelling the rule out again.
"""

from __future__ import annotations

import re
import secrets

from mock_api.config import Config, demo_email, demo_password

_EMAIL = re.compile(r"client([1-9][0-9]*)@mixoads\.com")


def account_credentials(k: int) -> tuple[str, str]:
    """The ``(email, password)`` of account ``k`` (1 = the vendor's demo)."""
    if k < 1:
        raise ValueError(f"accounts are numbered from 1, got {k}")
    if k == 1:
        return demo_email(), demo_password()
    return f"client{k}@mixoads.com", f"Secret-{k}-Pass!"


def account_client_id(k: int) -> str:
    """The X-Client-ID a test should send for account ``k``.

    The mock limits by X-Client-ID, not by account; one id per account keeps
    the accounts' budgets apart, as separate tap installations would.
    """
    return f"client-{k}"


def _same(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())


def authenticate(cfg: Config, email: str, password: str) -> int | None:
    """Return the account these credentials log into, or None."""
    if _same(email, cfg.email) and _same(password, cfg.password):
        return 1
    match = _EMAIL.fullmatch(email)
    if match is None:
        return None
    k = int(match.group(1))
    if not 2 <= k <= cfg.accounts:
        return None
    return k if _same(password, account_credentials(k)[1]) else None
