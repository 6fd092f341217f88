"""``tap-mixoads-state``: carry the accounts' ledgers over when shards change.

Each shard keeps its accounts' ledgers in its own state (one Meltano state
id per shard), under ``bookmarks.campaigns.accounts.<client_id>``. When the
number of shards N changes, most accounts move to another shard, whose
state does not hold their ledger: their failed syncs would be forgotten and
their rows' sync columns read as never synced. Two commands carry them over,
reading and writing the JSON of ``meltano state get`` / ``meltano state set
--input-file`` (``{"singer_state": ...}``) or a bare Singer state:

    tap-mixoads-state merge OLD-1.json OLD-2.json > all.json
    tap-mixoads-state split --shard 1/3 all.json > new-1.json

``merge`` joins the shards' states into one that holds every account's
ledger; ``split`` keeps, of such a state, only the accounts of one new
shard, so no shard carries a stale copy of another shard's ledger (a stale
copy could win a later merge). An account's entry is copied as it is: this
tool never reads a ledger's contents, so it keeps working when the ledger's
format changes.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import typing as t
from pathlib import Path

from tap_mixoads.config.shards import Shard

#: Where the accounts' ledgers are, inside a Singer state.
ACCOUNTS_PATH = ("bookmarks", "campaigns", "accounts")
EXIT_FAILURE = 1


class StateFileError(Exception):
    """A state file that cannot be read or is not a tap-mixoads state."""


class State:
    """One state document, as ``meltano state get`` prints it or bare.

    Args:
        document: the parsed JSON.
        name: where it came from, for error lines.
    """

    def __init__(self, document: t.Any, name: str) -> None:
        if not isinstance(document, dict):
            msg = f"{name}: a state must be a JSON object"
            raise StateFileError(msg)
        self.name = name
        self.wrapped = "singer_state" in document
        self.document: dict[str, t.Any] = copy.deepcopy(document)
        singer = self.document.get("singer_state", {}) if self.wrapped else None
        if self.wrapped and not isinstance(singer, dict):
            msg = f"{name}: singer_state must be a JSON object"
            raise StateFileError(msg)
        node: t.Any = singer if self.wrapped else self.document
        where = "singer_state" if self.wrapped else "state"
        for key in ACCOUNTS_PATH:
            where += f".{key}"
            child = node.get(key, {})
            if not isinstance(child, dict):
                msg = f"{name}: {where} must be a JSON object"
                raise StateFileError(msg)
            node = node.setdefault(key, child)

    @property
    def singer(self) -> dict[str, t.Any]:
        """The Singer state inside (the document itself when bare)."""
        if self.wrapped:
            return t.cast("dict[str, t.Any]", self.document["singer_state"])
        return self.document

    @property
    def accounts(self) -> dict[str, t.Any]:
        """The accounts' entries: client id -> ledger (edited in place)."""
        node: t.Any = self.singer
        for key in ACCOUNTS_PATH:
            node = node[key]
        return t.cast("dict[str, t.Any]", node)

    @classmethod
    def read(cls, path: str) -> State:
        """Read a state file (``-``: standard input).

        Raises:
            StateFileError: one line naming the file.
        """
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            msg = f"{path}: cannot be read ({type(exc).__name__})"
            raise StateFileError(msg) from None
        try:
            document = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            msg = f"{path}: not JSON (line {exc.lineno}, column {exc.colno})"
            raise StateFileError(msg) from None
        return cls(document, "stdin" if path == "-" else path)


def merge(states: list[State], *, on_conflict: str = "error") -> State:
    """One state holding every account's entry from ``states``.

    Everything besides the accounts (other streams' bookmarks, the campaigns
    stream's other keys) is taken from the first state that has it. An
    account found in two states with different entries is an error unless
    ``on_conflict`` says which wins (``first`` or ``last``): shards hold
    disjoint accounts, so a conflict means a state was copied by hand.

    Raises:
        StateFileError: on a conflict with ``on_conflict="error"``.
    """
    if not states:
        return State({}, "merged")
    merged = State(states[0].document, "merged")
    merged.wrapped = any(s.wrapped for s in states)
    if merged.wrapped and "singer_state" not in merged.document:
        merged.document = {"singer_state": merged.document}
    source = {client_id: states[0].name for client_id in merged.accounts}
    conflicts: list[str] = []
    for state in states[1:]:
        _fill_missing(merged.singer, state.singer)
        for client_id, entry in state.accounts.items():
            held = merged.accounts.get(client_id)
            if held is None or on_conflict == "last":
                merged.accounts[client_id] = copy.deepcopy(entry)
                source[client_id] = state.name
            elif held != entry and on_conflict == "error":
                conflicts.append(f"'{client_id}' ({source[client_id]}, {state.name})")
    if conflicts:
        msg = (
            f"account {', '.join(conflicts)} has different ledgers in two states; "
            "pass --on-conflict first or last to say which one wins"
        )
        raise StateFileError(msg)
    return merged


def _fill_missing(into: dict[str, t.Any], other: t.Mapping[str, t.Any]) -> None:
    """Copy into ``into`` what it lacks of ``other``, at every depth."""
    for key, value in other.items():
        if key not in into:
            into[key] = copy.deepcopy(value)
        elif isinstance(into[key], dict) and isinstance(value, dict):
            _fill_missing(into[key], value)


def split(state: State, shard: Shard) -> State:
    """``state`` with only the accounts that ``shard`` runs."""
    part = State(state.document, state.name)
    for client_id in list(part.accounts):
        if not shard.holds(client_id):
            del part.accounts[client_id]
    return part


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tap-mixoads-state",
        description=(
            "Carry the accounts' sync ledgers over when the number of shards "
            "changes (reads and writes the JSON of `meltano state get` / "
            "`meltano state set --input-file`)."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True)
    merging = commands.add_parser(
        "merge", help="join several shards' states into one (to stdout)"
    )
    merging.add_argument("states", nargs="+", metavar="STATE.json")
    merging.add_argument(
        "--on-conflict",
        choices=("error", "first", "last"),
        default="error",
        help="an account with different ledgers in two states (default: error)",
    )
    splitting = commands.add_parser(
        "split", help="keep only one new shard's accounts (to stdout)"
    )
    splitting.add_argument("state", metavar="STATE.json")
    splitting.add_argument("--shard", required=True, metavar="K/N")
    return parser


def run(argv: list[str] | None = None) -> int:
    """The command's work; the exit code (a problem: one line on stderr)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "merge":
            states = [State.read(path) for path in args.states]
            result = merge(states, on_conflict=args.on_conflict)
            note = f"merged {len(result.accounts)} account(s) from {len(states)} states"
        else:
            try:
                shard = Shard.parse(args.shard)
            except ValueError as exc:
                msg = f"--shard: {exc}"
                raise StateFileError(msg) from None
            state = State.read(args.state)
            result = split(state, shard)
            note = (
                f"shard {shard}: kept {len(result.accounts)} of "
                f"{len(state.accounts)} account(s)"
            )
    except StateFileError as exc:
        sys.stderr.write(f"tap-mixoads-state: error: {exc}\n")
        return EXIT_FAILURE
    sys.stdout.write(json.dumps(result.document, sort_keys=True) + "\n")
    sys.stderr.write(f"tap-mixoads-state: {note}\n")
    return 0


def main() -> None:
    """Entry point of ``tap-mixoads-state``."""
    sys.exit(run())


if __name__ == "__main__":
    main()
