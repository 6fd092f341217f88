"""Hostile field values, each planted in a fixed campaign (``bad_values``).

Fixed campaigns (not random ones) let a test name the exact row a client must
survive, reject or quarantine; the same campaigns are hit in every account.
"""

from __future__ import annotations

from typing import Any

#: Stands in for a lone surrogate, which no encoder will write: the list
#: handler replaces it with the raw JSON escape after serializing.
SURROGATE_MARK = "@@LONE-SURROGATE@@"
SURROGATE_ESCAPE = b"\\ud800"
LONG_ID_CHARS = 10 * 1024
BIG_INT = 2**63
BIG_DIGITS = "123456789012345678901234567890"
#: Raw JSON that no serializer writes for us: a placeholder string is
#: planted and the list handler swaps its quoted form for these bytes.
RAW_VALUES: dict[str, bytes] = {
    "@@RAW-INT64-LOW@@": str(-(2**63) - 1).encode(),
    "@@RAW-DEEP@@": b"[" * 5000 + b"]" * 5000,
}
#: The campaign whose sync error message contains U+0000.
NUL_SYNC_ERROR_ID = "campaign_10"
#: Campaign index -> the bad value it carries when its kind is switched on.
TARGETS: dict[int, str] = {
    2: "nul",
    3: "bigint",
    4: "bigstring",
    5: "bigstring",
    6: "longid",
    7: "dotdot",
    8: "dotdot",
    9: "surrogate",
    11: "int64low",
    12: "bigstring53",
    13: "deep",
}


def long_id(index: int) -> str:
    """The 10 KiB id that replaces ``campaign_<index>`` under ``longid``."""
    head = f"campaign_{index}_"
    return head + "x" * (LONG_ID_CHARS - len(head))


def plant(record: dict[str, Any], index: int, kinds: tuple[str, ...]) -> bool:
    """Put the bad value of campaign ``index`` into ``record`` if it is on.

    Returns:
        Whether the record now carries a mark (a lone surrogate, a raw
        value) that the caller must turn into raw JSON with :func:`unmark`.
    """
    kind = TARGETS.get(index)
    if kind is None or kind not in kinds:
        return False
    name = str(record.get("name", ""))
    if kind == "nul":
        record["name"] = name.replace(" ", "\x00 ", 1)
    elif kind == "bigint":
        record["impressions"] = BIG_INT
    elif kind == "bigstring":
        record["budget"] = "1e30" if index == 4 else BIG_DIGITS
    elif kind == "longid":
        record["id"] = long_id(index)
    elif kind == "dotdot":
        record["id"] = ".." if index == 7 else "a/../b"
    elif kind == "surrogate":
        record["name"] = name.replace(" ", SURROGATE_MARK + " ", 1)
        return True
    elif kind == "int64low":
        record["clicks"] = "@@RAW-INT64-LOW@@"
        return True
    elif kind == "bigstring53":
        record["budget"] = str(2**53 + 1)
    elif kind == "deep":
        record["name"] = "@@RAW-DEEP@@"
        return True
    return False


def unmark(body: bytes) -> bytes:
    """Put the raw bytes of every planted mark into a serialized page."""
    body = body.replace(SURROGATE_MARK.encode(), SURROGATE_ESCAPE)
    for mark, raw in RAW_VALUES.items():
        body = body.replace(b'"' + mark.encode() + b'"', raw)
    return body
