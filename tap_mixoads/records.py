"""Turning the API's campaign objects into records the schema promises.

The tap guarantees its schema itself instead of leaving it to the SDK's
generic (and slow) type conformance, which is why the stream can switch that
off. The policy per data problem, documented in the README:

- unknown extra fields: dropped (the schema is fixed; counted and logged once);
- a missing field: null;
- a number sent as a numeric string (``"1100"``): coerced to the number;
- a value of the wrong type that cannot be coerced: null, counted and logged;
- a ``created_at`` that is not an ISO date-time: null, counted and logged;
- a missing or empty ``id``: the record is rejected (it could never be
  upserted), counted, logged with its page, and named in the run summary.
"""

from __future__ import annotations

import datetime
import typing as t
from collections import Counter

STRING_FIELDS = ("name", "status")
INTEGER_FIELDS = ("impressions", "clicks", "conversions")
NUMBER_FIELDS = ("budget",)
DATETIME_FIELDS = ("created_at",)
CAMPAIGN_FIELDS = frozenset(
    ("id", *STRING_FIELDS, *INTEGER_FIELDS, *NUMBER_FIELDS, *DATETIME_FIELDS)
)

_Bad = object()
_NUMBER_TYPES = (int, float)


def _as_int(value: t.Any) -> t.Any:
    if isinstance(value, bool):
        return _Bad
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return _Bad
        return int(number) if number.is_integer() else _Bad
    return _Bad


def _as_number(value: t.Any) -> t.Any:
    if isinstance(value, bool):
        return _Bad
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return _Bad
        return int(number) if number.is_integer() else number
    return _Bad


def _as_datetime(value: t.Any) -> t.Any:
    if not isinstance(value, str):
        return _Bad
    try:
        # Python 3.11+ reads a trailing "Z"; 3.10 needs it spelled out.
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return _Bad
    return value


def iso_datetime_or_none(value: t.Any) -> str | None:
    """``value`` if it is an ISO 8601 date-time string, else None."""
    checked = _as_datetime(value)
    return None if checked is _Bad else t.cast("str", checked)


def _as_string(value: t.Any) -> t.Any:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return _Bad


_COERCERS: dict[str, t.Callable[[t.Any], t.Any]] = {
    **dict.fromkeys(STRING_FIELDS, _as_string),
    **dict.fromkeys(INTEGER_FIELDS, _as_int),
    **dict.fromkeys(NUMBER_FIELDS, _as_number),
    **dict.fromkeys(DATETIME_FIELDS, _as_datetime),
}


def _is_clean(raw: t.Any) -> bool:
    """True if ``raw`` has exactly the schema's fields with exactly its types."""
    return (
        type(raw) is dict
        and raw.keys() == CAMPAIGN_FIELDS
        and type(raw["id"]) is str
        and raw["id"] != ""
        and type(raw["name"]) is str
        and type(raw["status"]) is str
        and type(raw["impressions"]) is int
        and type(raw["clicks"]) is int
        and type(raw["conversions"]) is int
        and type(raw["budget"]) in _NUMBER_TYPES
        and _as_datetime(raw["created_at"]) is not _Bad
    )


class CampaignNormalizer:
    """Applies the data policy above and counts what it had to repair."""

    def __init__(self) -> None:
        self.repairs: Counter[str] = Counter()
        self.unknown_fields: set[str] = set()
        self.rejected: list[str] = []

    def normalize(self, raw: t.Any, *, where: str) -> dict[str, t.Any] | None:
        """Return the campaign as the schema types it, or None to reject it.

        Args:
            raw: one element of the API's ``data`` array.
            where: where it came from (e.g. ``page 3``), for messages.
        """
        if _is_clean(raw):
            # The common case, checked in one pass: nothing to repair.
            return t.cast("dict[str, t.Any]", raw)
        return self._repair(raw, where=where)

    def _repair(self, raw: t.Any, *, where: str) -> dict[str, t.Any] | None:
        """Apply the data policy field by field (the uncommon case)."""
        if not isinstance(raw, dict):
            self.rejected.append(f"non-object item on {where}")
            return None
        campaign_id = raw.get("id")
        if isinstance(campaign_id, int) and not isinstance(campaign_id, bool):
            campaign_id = str(campaign_id)
        if not isinstance(campaign_id, str) or not campaign_id:
            self.rejected.append(f"campaign without an id on {where}")
            return None
        record: dict[str, t.Any] = {"id": campaign_id}
        for field, coerce in _COERCERS.items():
            value = raw.get(field)
            if value is None:
                if field not in raw:
                    self.repairs[f"missing {field}"] += 1
                record[field] = None
                continue
            coerced = coerce(value)
            if coerced is _Bad:
                self.repairs[f"invalid {field}"] += 1
                coerced = None
            elif coerced is not value and type(coerced) is not type(value):
                self.repairs[f"coerced {field}"] += 1
            record[field] = coerced
        extra = raw.keys() - CAMPAIGN_FIELDS
        if extra:
            self.repairs["extra fields dropped"] += 1
            self.unknown_fields.update(extra)
        return record
