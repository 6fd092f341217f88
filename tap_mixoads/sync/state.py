"""Reading the prior state: one validating parser for everything the tap kept.

The state comes from outside (Meltano's state backend, a ``--state`` file a
person edited, another version of the tap), so it is checked before a run
relies on it:

- the state as a whole (``bookmarks``, ``bookmarks.campaigns``,
  ``bookmarks.campaigns.accounts``) must be made of objects; if it is not,
  the run cannot know what it is reading and stops with one line
  (:class:`StateError`) saying how to start fresh;
- each account's entry, and each entry of its ``ledger``, ``synced``,
  ``seen`` and ``removed`` maps, must have
  the shape :mod:`tap_mixoads.sync.ledger` writes; a bad one is dropped with
  one warning naming the account and the campaign (a garbage ``synced_at``
  would otherwise go into a record that the loader rejects, and with it the
  whole batch).
"""

from __future__ import annotations

import dataclasses
import datetime
import typing as t

from tap_mixoads.errors import MixoAdsError
from tap_mixoads.sync.entries import Success

#: The campaigns stream's name in the state's ``bookmarks``.
CAMPAIGNS_STREAM = "campaigns"
#: Ledger statuses the ledger writes.
LEDGER_STATUSES = frozenset({"failed", "deferred", "dead"})
#: How to start over, said by every whole-state error.
START_FRESH = (
    "start fresh with `meltano run --full-refresh ...` (or run the tap "
    "without --state); the next run writes a new state"
)
#: Bad entries named one by one before the rest are only counted.
MAX_NAMED_DROPS = 20


class StateError(MixoAdsError):
    """The prior state is not one this tap wrote: the run cannot use it."""


@dataclasses.dataclass
class ParsedState:
    """The state with every bad entry dropped, and what was dropped."""

    state: dict[str, t.Any]
    dropped: list[str] = dataclasses.field(default_factory=list)

    def warnings(self) -> list[str]:
        """One line per dropped entry (at most ``MAX_NAMED_DROPS``), then a count."""
        lines = [f"state: {why}; dropped" for why in self.dropped[:MAX_NAMED_DROPS]]
        more = len(self.dropped) - MAX_NAMED_DROPS
        if more > 0:
            lines.append(f"state: {more} more bad entries dropped")
        return lines


def _kind(value: t.Any) -> str:
    return "null" if value is None else type(value).__name__


def _object(value: t.Any, where: str) -> dict[str, t.Any]:
    if not isinstance(value, dict):
        msg = (
            f"Invalid state: {where} is {_kind(value)}, not an object; it was "
            f"not written by this tap or is damaged: {START_FRESH}"
        )
        raise StateError(msg)
    return value


def _is_int(value: t.Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_datetime(value: t.Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def ledger_entry_problem(entry: t.Any) -> str | None:
    """Why a ledger entry cannot be used, or None if it can."""
    if not isinstance(entry, dict):
        return f"is {_kind(entry)}, not an object"
    runs = entry.get("runs", 0)
    if not _is_int(runs) or runs < 0:
        return f"'runs' is {runs!r:.40}, not a count"
    if entry.get("status") not in LEDGER_STATUSES:
        return f"'status' is {entry.get('status')!r:.40}"
    for key in ("http_status", "attempts"):
        value = entry.get(key)
        if value is not None and (not _is_int(value) or value < 0):
            return f"'{key}' is {value!r:.40}, not a whole number"
    if not isinstance(entry.get("error"), (str, type(None))):
        return "'error' is not text"
    at = entry.get("at")
    if at is not None and not _is_datetime(at):
        return "'at' is not a date-time"
    return None


def synced_entry_problem(entry: t.Any) -> str | None:
    """Why a ``synced`` entry is bad (see :class:`~tap_mixoads.sync.entries.Success`).

    The packed text ``"fingerprint,synced_at[,attempts[,status]]"``, or the
    list ``[synced_at, http_status, attempts]`` that older versions wrote
    (with the fingerprint as a fourth item when the time cannot be packed).
    """
    if isinstance(entry, str):
        try:
            Success.from_state(entry)
        except ValueError:
            return f"is {entry!r:.40}, not fingerprint,synced_at[,attempts,status]"
        return None
    if not isinstance(entry, list) or len(entry) not in (3, 4):
        return f"is {_kind(entry)}, not [synced_at, http_status, attempts]"
    synced_at, http_status, attempts = entry[:3]
    if synced_at is not None and not _is_datetime(synced_at):
        return "its synced_at is not a date-time"
    if len(entry) == 4 and not isinstance(entry[3], (str, type(None))):
        return "its fingerprint is not text"
    for name, value in (("http_status", http_status), ("attempts", attempts)):
        if value is not None and (not _is_int(value) or value < 0):
            return f"its {name} is {value!r:.40}, not a whole number"
    return None


def seen_entry_problem(entry: t.Any) -> str | None:
    """Why a ``seen`` entry (a settings fingerprint) is bad."""
    if not isinstance(entry, str):
        return f"is {_kind(entry)}, not a fingerprint"
    return None


def removed_entry_problem(entry: t.Any) -> str | None:
    """Why a ``removed`` entry (epoch seconds) is bad."""
    if not _is_int(entry) or entry < 0:
        return f"is {entry!r:.40}, not epoch seconds"
    return None


def _clean_account(
    client_id: str, entry: t.Any, dropped: list[str]
) -> dict[str, t.Any] | None:
    if not isinstance(entry, dict):
        dropped.append(f"account '{client_id}': its entry is {_kind(entry)}")
        return None
    cleaned = dict(entry)
    for part, problem_of in (
        ("ledger", ledger_entry_problem),
        ("synced", synced_entry_problem),
        ("seen", seen_entry_problem),
        ("removed", removed_entry_problem),
    ):
        value = entry.get(part)
        if value is None:
            continue
        if not isinstance(value, dict):
            dropped.append(f"account '{client_id}': its {part} is {_kind(value)}")
            cleaned.pop(part)
            continue
        kept = {}
        for campaign_id, item in value.items():
            problem = problem_of(item)
            if problem is None:
                kept[campaign_id] = item
            else:
                dropped.append(
                    f"account '{client_id}': {part} entry of campaign "
                    f"'{campaign_id:.80}' {problem}"
                )
        cleaned[part] = kept
    return cleaned


def parse_state(state: t.Any) -> ParsedState:
    """Check the whole prior state; drop bad entries, refuse a bad whole.

    Raises:
        StateError: the state, its ``bookmarks``, the campaigns stream's
            state or its ``accounts`` is not an object.
    """
    if state is None:
        return ParsedState({})
    state = _object(state, "the state")
    if "bookmarks" not in state:
        return ParsedState(dict(state))
    bookmarks = _object(state["bookmarks"], "bookmarks")
    for name, stream_state in bookmarks.items():
        _object(stream_state, f"bookmarks.{name}")  # the SDK reads each as one
    if CAMPAIGNS_STREAM not in bookmarks:
        return ParsedState(dict(state))
    stream_state = _object(bookmarks[CAMPAIGNS_STREAM], f"bookmarks.{CAMPAIGNS_STREAM}")
    if "accounts" not in stream_state:
        return ParsedState(dict(state))
    accounts = _object(
        stream_state["accounts"], f"bookmarks.{CAMPAIGNS_STREAM}.accounts"
    )
    dropped: list[str] = []
    cleaned_accounts = {}
    for client_id, entry in accounts.items():
        cleaned = _clean_account(str(client_id), entry, dropped)
        if cleaned is not None:
            cleaned_accounts[client_id] = cleaned
    cleaned_state = {
        **state,
        "bookmarks": {
            **bookmarks,
            CAMPAIGNS_STREAM: {**stream_state, "accounts": cleaned_accounts},
        },
    }
    return ParsedState(cleaned_state, dropped)
