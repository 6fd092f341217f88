"""A campaign field's value as its schema type says, or why it cannot be.

Each coercer takes what the API sent and returns the value of the field's
type (a numeric string as its number, an ISO 8601 date-time normalised), or
:data:`BAD` (the wrong type) or :data:`OUT_OF_RANGE` (an integer past
PostgreSQL's ``bigint``, a non-finite number). :func:`coercer_for` picks the
coercer from a property of the stream's schema;
:mod:`tap_mixoads.extract.normalizer` applies them and counts what they
refuse.
"""

from __future__ import annotations

import datetime
import math
import sys
import typing as t

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Integral floats at or past this magnitude are not exact 64-bit integers.
FLOAT_INT64_LIMIT = float(2**63)

#: A value of the wrong type that cannot be coerced.
BAD = object()
#: A number outside what the column can hold.
OUT_OF_RANGE = object()


def _in_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


def _float_out_of_range(value: float) -> bool:
    """Whether an integral float cannot be an exact 64-bit integer.

    A JSON decoder hands an integer literal beyond 64 bits over as a float:
    ``-9223372036854775809`` arrives as ``-9.223372036854776e18``, which
    equals -2**63 and would pass a range check on ``int(value)``. No float
    of that magnitude is exact, so it is out of range, never rounded in.
    """
    return abs(value) >= FLOAT_INT64_LIMIT


def _parse_numeric_text(value: str) -> t.Any:
    """A numeric string as an exact int when it is one, else a float.

    ``float("9007199254740993")`` rounds to ...992: an integer string is
    read with ``int`` so that every digit survives.
    """
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return BAD


def as_int(value: t.Any) -> t.Any:
    """An integer (an integral float or numeric string too) within bigint."""
    if isinstance(value, bool):
        return BAD
    if isinstance(value, int):
        return value if _in_int64(value) else OUT_OF_RANGE
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return BAD
        if _float_out_of_range(value):
            return OUT_OF_RANGE
        return int(value)
    if isinstance(value, str):
        number = _parse_numeric_text(value)
        return BAD if number is BAD else as_int(number)
    return BAD


def as_number(value: t.Any) -> t.Any:
    """A finite number (a numeric string too); an integer within bigint."""
    if isinstance(value, bool):
        return BAD
    if isinstance(value, int):
        return value if _in_int64(value) else OUT_OF_RANGE
    if isinstance(value, float):
        if not math.isfinite(value):
            return BAD
        if value.is_integer():
            return OUT_OF_RANGE if _float_out_of_range(value) else int(value)
        return value
    if isinstance(value, str):
        number = _parse_numeric_text(value)
        return BAD if number is BAD else as_number(number)
    return BAD


#: Python 3.11+ reads a trailing "Z"; 3.10 needs it spelled out.
_READS_Z = sys.version_info >= (3, 11)


def _as_datetime(value: t.Any) -> t.Any:
    if not isinstance(value, str):
        return BAD
    try:
        datetime.datetime.fromisoformat(
            value if _READS_Z else value.replace("Z", "+00:00")
        )
    except ValueError:
        return BAD
    return value


def iso_datetime_or_none(value: t.Any) -> str | None:
    """``value`` if it is an ISO 8601 date-time string, else None."""
    checked = _as_datetime(value)
    return None if checked is BAD else t.cast("str", checked)


def as_string(value: t.Any) -> t.Any:
    """A string as it is, a number as its text; anything else is BAD."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return BAD


def text_ok(value: str) -> bool:
    """No NUL, and encodable as UTF-8 (no lone surrogate)."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def coercer_for(spec: dict[str, t.Any]) -> t.Callable[[t.Any], t.Any]:
    """The coercer for one JSON-schema property (its non-null type)."""
    types = spec.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    if "integer" in types:
        return as_int
    if "number" in types:
        return as_number
    if spec.get("format") == "date-time":
        return _as_datetime
    return as_string
