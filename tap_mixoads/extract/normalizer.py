"""Turning the API's campaign objects into records the schema promises.

The tap guarantees its schema itself instead of leaving it to the SDK's
generic type conformance, which is why the stream can switch that off. Which
fields exist and what type each has is read from the stream's schema (the one
list of fields); this module holds the policy per data problem (the
values' coercion by type is :mod:`tap_mixoads.extract.values`), documented
in the README:

- unknown extra fields: dropped (counted, named once);
- a missing field: null;
- a number sent as a numeric string (``"1100"``): coerced to the number;
- a value of the wrong type that cannot be coerced: null, counted;
- an integer outside the signed 64-bit range (PostgreSQL ``bigint``), in any
  numeric field, or a non-finite number: null, counted;
- a ``date-time`` that is not ISO 8601: null, counted;
- a NUL character in text (PostgreSQL text cannot hold it): removed, counted;
- a lone UTF-16 surrogate in text (not encodable as UTF-8): replaced by
  U+FFFD, counted;
- an ``id`` that is missing, empty, not a string or integer, longer than
  ``MAX_ID_CHARS``, or unusable as a URL path segment (``.``, ``..``, a
  ``/``, a control character): the record is rejected, counted and named.
"""

from __future__ import annotations

import datetime
import math
import typing as t
from collections import Counter

from tap_mixoads.extract.values import (
    BAD,
    FLOAT_INT64_LIMIT,
    INT64_MAX,
    INT64_MIN,
    OUT_OF_RANGE,
    as_int,
    as_number,
    as_string,
    coercer_for,
    text_ok,
)

#: Longest campaign id accepted: ids are primary keys (a btree index entry
#: holds at most ~2.7 KB) and go into the sync call's URL path.
MAX_ID_CHARS = 256
#: Rejected items named in the end-of-run line (the rest are counted).
MAX_NAMED_REJECTIONS = 20


class ExtractedRecord(dict):  # type: ignore[type-arg]
    """A record that knows when its page arrived (its ``time_extracted``).

    Records wait in the sync window before they are written; the message
    writer reads ``extracted_at`` so that ``time_extracted`` is the page's
    arrival, not the moment the record was written.
    """

    __slots__ = ("extracted_at",)

    def __init__(
        self, record: dict[str, t.Any], *, extracted_at: datetime.datetime
    ) -> None:
        super().__init__(record)
        self.extracted_at = extracted_at


class CampaignNormalizer:
    """Applies the data policy above and counts what it had to repair.

    Args:
        schema: the stream's JSON schema.
        fields: the schema's properties that come from the API (the ones the
            tap adds itself, like the sync outcome, are left out).
    """

    def __init__(self, schema: dict[str, t.Any], fields: t.Iterable[str]) -> None:
        properties = schema["properties"]
        self.fields = frozenset(fields)
        self._coercers = {
            name: coercer_for(properties[name]) for name in self.fields if name != "id"
        }
        by_kind: dict[t.Callable[[t.Any], t.Any], list[str]] = {}
        for name, coercer in self._coercers.items():
            by_kind.setdefault(coercer, []).append(name)
        self._str_fields = tuple(by_kind.pop(as_string, []))
        self._int_fields = tuple(by_kind.pop(as_int, []))
        self._num_fields = tuple(by_kind.pop(as_number, []))
        self._other_fields = tuple(n for names in by_kind.values() for n in names)
        self.repairs: Counter[str] = Counter()
        self.unknown_fields: set[str] = set()
        self.rejected: list[str] = []
        self.rejected_count = 0

    def normalize(self, raw: t.Any, *, where: str) -> dict[str, t.Any] | None:
        """Return the campaign as the schema types it, or None to reject it.

        Args:
            raw: one element of the API's ``data`` array.
            where: where it came from (e.g. ``page 3``), for messages.
        """
        if self._is_clean(raw):
            # The common case, checked in one pass: nothing to repair.
            return t.cast("dict[str, t.Any]", raw)
        return self._repair(raw, where=where)

    def _is_clean(self, raw: t.Any) -> bool:
        """True if ``raw`` has exactly the schema's fields, types and ranges."""
        return (
            type(raw) is dict
            and raw.keys() == self.fields
            and self._clean_values(raw)
            and _id_problem(raw["id"]) is None
        )

    def _clean_values(self, raw: dict[str, t.Any]) -> bool:
        for name in self._str_fields:
            value = raw[name]
            if type(value) is not str or not text_ok(value):
                return False
        for name in self._int_fields:
            value = raw[name]
            if type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
                return False
        for name in self._num_fields:
            value = raw[name]
            if type(value) is int:
                if not INT64_MIN <= value <= INT64_MAX:
                    return False
            elif (
                type(value) is not float
                or not math.isfinite(value)
                or abs(value) >= FLOAT_INT64_LIMIT
            ):
                return False
        return all(
            self._coercers[name](raw[name]) is raw[name] for name in self._other_fields
        )

    def _reject(self, why: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_NAMED_REJECTIONS:
            self.rejected.append(why)

    def _repair(self, raw: t.Any, *, where: str) -> dict[str, t.Any] | None:
        """Apply the data policy field by field (the uncommon case)."""
        if not isinstance(raw, dict):
            self._reject(f"non-object item on {where}")
            return None
        campaign_id = raw.get("id")
        if isinstance(campaign_id, int) and not isinstance(campaign_id, bool):
            campaign_id = str(campaign_id)
        problem = _id_problem(campaign_id)
        if problem is not None:
            self._reject(f"campaign {problem} on {where}")
            return None
        record: dict[str, t.Any] = {"id": campaign_id}
        for field, coerce in self._coercers.items():
            value = raw.get(field)
            if value is None:
                if field not in raw:
                    self.repairs[f"missing {field}"] += 1
                record[field] = None
                continue
            coerced = coerce(value)
            if coerced is BAD:
                self.repairs[f"invalid {field}"] += 1
                coerced = None
            elif coerced is OUT_OF_RANGE:
                self.repairs[f"out-of-range {field}"] += 1
                coerced = None
            elif isinstance(coerced, str) and not text_ok(coerced):
                coerced = self._repair_text(field, coerced)
            elif coerced is not value and type(coerced) is not type(value):
                self.repairs[f"coerced {field}"] += 1
            record[field] = coerced
        extra = raw.keys() - self.fields
        if extra:
            self.repairs["extra fields dropped"] += 1
            self.unknown_fields.update(str(k)[:40] for k in extra)
        return record

    def _repair_text(self, field: str, value: str) -> str:
        if "\x00" in value:
            self.repairs[f"NUL removed from {field}"] += 1
            value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            self.repairs[f"invalid unicode replaced in {field}"] += 1
            value = "".join(
                "\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value
            )
        return value

    def summary(self) -> str | None:
        """One line of what was repaired and rejected, or None if nothing."""
        parts = [f"{k}: {v}" for k, v in sorted(self.repairs.items())]
        if self.rejected_count:
            named = "; ".join(self.rejected)
            more = self.rejected_count - len(self.rejected)
            parts.append(
                f"rejected {self.rejected_count}: {named}"
                + (f" and {more} more" if more > 0 else "")
            )
        return ", ".join(parts) if parts else None


def _id_problem(campaign_id: t.Any) -> str | None:
    """Why ``campaign_id`` cannot be a key and a URL path segment, or None."""
    if not isinstance(campaign_id, str) or not campaign_id:
        return "without an id"
    if len(campaign_id) > MAX_ID_CHARS:
        return f"with an id of {len(campaign_id)} characters (over {MAX_ID_CHARS})"
    if campaign_id in {".", ".."} or "/" in campaign_id:
        return f"with id {campaign_id[:40]!r}, unusable in the sync path"
    if not campaign_id.isprintable() or not text_ok(campaign_id):
        return f"with id {campaign_id.encode('unicode_escape', 'replace')[:40]!r}"
    return None
