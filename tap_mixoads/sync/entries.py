"""A ledger's entries as state keeps them: the last success, a removal.

:class:`Success` packs a campaign's last successful sync into one short
string (the settings' fingerprint, the platform's ``synced_at`` in base 36
microseconds, attempts and status when not 1 and 200) and reads it back, the
older list form too; :class:`Removal` is a campaign a complete listing
stopped returning. :mod:`tap_mixoads.sync.ledger` keeps them per account.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing as t

from tap_mixoads.sync.outcome import SUCCESS, SyncOutcome

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_MICROSECOND = datetime.timedelta(microseconds=1)
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def to_base36(n: int) -> str:
    """``n`` (>= 0) in base 36."""
    if n < 0:
        raise ValueError(n)
    out = ""
    while True:
        n, digit = divmod(n, 36)
        out = _DIGITS[digit] + out
        if n == 0:
            return out


def _micros(text: str) -> int | None:
    """Microseconds since the epoch of an ISO date-time with a zone, else None."""
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None or moment < _EPOCH:
        return None
    return (moment - _EPOCH) // _MICROSECOND


def _from_micros(micros: int) -> str:
    return (_EPOCH + micros * _MICROSECOND).isoformat()


@dataclasses.dataclass(frozen=True)
class Success:
    """A campaign's last successful sync, as the ``synced`` map keeps it."""

    synced_at: str | None
    http_status: int | None = 200
    attempts: int = 1
    #: The fingerprint of its settings at that sync (None: an older state).
    fingerprint: str | None = None

    def to_state(self) -> str | list[t.Any]:
        """``"fp,t[,attempts[,status]]"``; a list for a time it cannot pack.

        ``t`` is the platform's ``synced_at`` in microseconds since the epoch,
        base 36: the same instant, in 10 characters instead of 32.
        """
        micros = _micros(self.synced_at) if self.synced_at is not None else None
        if self.synced_at is not None and micros is None:
            return [self.synced_at, self.http_status, self.attempts, self.fingerprint]
        parts = [self.fingerprint or "", "" if micros is None else to_base36(micros)]
        if self.attempts != 1 or self.http_status != 200:
            parts.append(str(self.attempts))
        if self.http_status != 200:
            parts.append("" if self.http_status is None else str(self.http_status))
        return ",".join(parts)

    @classmethod
    def from_state(cls, value: t.Any) -> Success:
        """Read a ``synced`` entry (this form, or the older 3-item list).

        Raises:
            ValueError: the entry is neither (state.py has checked it first).
        """
        if isinstance(value, list) and len(value) in (3, 4):
            synced_at, http_status, attempts = value[:3]
            fingerprint = value[3] if len(value) == 4 else None
            return cls(synced_at, http_status, int(attempts or 0), fingerprint)
        if not isinstance(value, str):
            raise ValueError(value)
        parts = value.split(",")
        if not 2 <= len(parts) <= 4:
            raise ValueError(value)
        fingerprint, micros = parts[0] or None, parts[1]
        attempts = int(parts[2]) if len(parts) > 2 else 1
        status = parts[3] if len(parts) > 3 else "200"
        try:
            synced_at = _from_micros(int(micros, 36)) if micros else None
        except OverflowError:
            raise ValueError(value) from None
        if attempts < 0:
            raise ValueError(value)
        return cls(
            synced_at=synced_at,
            http_status=int(status) if status else None,
            attempts=attempts,
            fingerprint=fingerprint,
        )

    def outcome(self) -> SyncOutcome:
        """The outcome to carry onto the campaign's record."""
        return SyncOutcome(
            SUCCESS,
            synced_at=self.synced_at,
            http_status=self.http_status,
            attempts=self.attempts,
        )


@dataclasses.dataclass(frozen=True)
class Removal:
    """A campaign that a complete listing stopped returning."""

    campaign_id: str
    #: When the tap first saw it missing (ISO 8601, UTC).
    removed_at: str
