"""What counts as a change to a campaign: a short fingerprint of its settings.

``sync_mode: changed`` syncs a campaign only when its settings differ from
those at its last successful sync. The ledger keeps, per campaign, not the
settings but an 8-character fingerprint of them (48 bits of BLAKE2b over
their canonical JSON): a few bytes of state per campaign, and a missed
change only if two different settings collide (about 1 in 2.8e14).

Values are compared after the data policy has normalised them, and numbers
by value: a budget of ``1100`` and ``1100.0`` are the same setting. Metrics
(``impressions``, ``clicks``, ``conversions``) change on every call and
``created_at`` never changes meaningfully: neither can be a setting.
"""

from __future__ import annotations

import binascii
import hashlib
import typing as t

import orjson

#: The settings compared by default (``sync_change_fields`` overrides them).
DEFAULT_CHANGE_FIELDS = ("name", "status", "budget")
#: Fields that are never settings: metrics change on every call, and the
#: keys and creation time identify the campaign rather than configure it.
NEVER_CHANGE_FIELDS = frozenset(
    {"impressions", "clicks", "conversions", "created_at", "id", "client_id"}
)
#: Characters of a fingerprint (base64url of 6 bytes).
FINGERPRINT_CHARS = 8


def _canonical(value: t.Any) -> t.Any:
    """``value`` with numbers compared by value (1100.0 is 1100)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


#: Types :func:`_canonical` leaves as they are (the common settings).
_PLAIN = frozenset({str, int, bool, type(None)})
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def fingerprint(record: t.Mapping[str, t.Any], fields: t.Sequence[str]) -> str:
    """The fingerprint of ``record``'s ``fields`` (a missing field is null)."""
    settings = [record.get(name) for name in fields]
    # Run once per listed campaign: the canonical form is needed only for
    # floats and containers, and base64url of 6 bytes has no padding.
    for value in settings:
        if type(value) not in _PLAIN:
            settings = [_canonical(value) for value in settings]
            break
    digest = hashlib.blake2b(
        orjson.dumps(settings, option=orjson.OPT_SORT_KEYS), digest_size=6
    ).digest()
    return binascii.b2a_base64(digest, newline=False).translate(_URLSAFE).decode()


def change_fields_problem(
    fields: t.Sequence[t.Any], known: t.Collection[str]
) -> str | None:
    """Why ``sync_change_fields`` cannot be used, or None if it can."""
    if not fields:
        return "sync_change_fields is empty: name at least one campaign setting"
    unknown = [str(f) for f in fields if f not in known]
    if unknown:
        return (
            f"sync_change_fields names {', '.join(unknown)}, not a field of the "
            f"campaigns stream (settings: {', '.join(sorted(known))})"
        )
    never = [str(f) for f in fields if f in NEVER_CHANGE_FIELDS]
    if never:
        return (
            f"sync_change_fields names {', '.join(never)}: metrics change on every "
            "call and keys and created_at are not settings, so they never count "
            "as a change"
        )
    return None
