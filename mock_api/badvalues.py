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
}


def long_id(index: int) -> str:
    """The 10 KiB id that replaces ``campaign_<index>`` under ``longid``."""
    head = f"campaign_{index}_"
    return head + "x" * (LONG_ID_CHARS - len(head))


def plant(record: dict[str, Any], index: int, kinds: tuple[str, ...]) -> bool:
    """Put the bad value of campaign ``index`` into ``record`` if it is on.

    Returns:
        Whether the record now carries a lone-surrogate mark that the caller
        must turn into the raw escape.
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
    return False
