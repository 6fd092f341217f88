"""Shards: which part of the ``accounts`` list one process runs.

Every worker of a sharded fleet gets the same ``accounts`` and a ``shard``
``"K/N"``; it runs the accounts whose client id falls in shard K of N. The
hash must give the same answer on every machine, Python version and run
(Python's ``hash()`` of a string is salted per process), so it is SHA-256 of
the UTF-8 client id, read as a big-endian integer, modulo N. An account then
keeps its shard, and its ledger in that shard's state, for as long as N is
the same; when N changes, ``tap-mixoads-state`` (tap_mixoads.shard_state)
carries the ledgers over.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

from typing_extensions import override

#: ``K/N`` with positive integers (leading zeros refused: "01/4" is a typo).
_SHARD = re.compile(r"([1-9][0-9]*)/([1-9][0-9]*)")


def shard_of(client_id: str, count: int) -> int:
    """The shard (1..count) that ``client_id`` belongs to among ``count``.

    Raises:
        ValueError: if ``count`` is less than 1.
    """
    if count < 1:
        msg = f"a shard count must be at least 1, got {count}"
        raise ValueError(msg)
    digest = hashlib.sha256(client_id.encode("utf-8")).digest()
    return int.from_bytes(digest, "big") % count + 1


@dataclasses.dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (both counted from 1)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        """Refuse a shard that cannot hold anything (0/4, 5/4, 1/0)."""
        if not 1 <= self.index <= self.count:
            msg = f"'{self.index}/{self.count}' needs 1 <= K <= N"
            raise ValueError(msg)

    @override
    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, client_id: str) -> bool:
        """Whether the account ``client_id`` is run by this shard."""
        return shard_of(client_id, self.count) == self.index

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/4"`` as a Shard.

        Raises:
            ValueError: with a short reason that never quotes more than the
                text (it is not a secret).
        """
        match = _SHARD.fullmatch(text.strip())
        if match is None:
            shown = text if len(text) <= 20 else text[:20] + "..."
            msg = f"{shown!r} is not K/N (e.g. 2/4: the second of four shards)"
            raise ValueError(msg)
        return cls(int(match.group(1)), int(match.group(2)))
