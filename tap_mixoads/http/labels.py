"""Log lines that name their account: the account's label before every line.

With several accounts (or a shard) in one process, ``campaign_7`` exists in
every account, so a retry, token or failure line that does not say whose it
is cannot be acted on. Each account's HTTP path logs through an
:class:`AccountLog`, which puts the account's label (``[client X] ``, with
the shard when one is set) in front of every line; with one account the
label is empty and lines read as before.
"""

from __future__ import annotations

import logging
import typing as t

from typing_extensions import override


class AccountLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger adapter that prefixes each message with the account's label."""

    def __init__(self, logger: logging.Logger, label: str) -> None:
        super().__init__(logger, {"label": label})
        self.label = label

    @override
    def process(
        self, msg: t.Any, kwargs: t.MutableMapping[str, t.Any]
    ) -> tuple[t.Any, t.MutableMapping[str, t.Any]]:
        return f"{self.label}{msg}", kwargs
