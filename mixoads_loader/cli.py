"""Run target-postgres, turning a database that is down into one line + exit 1.

target-postgres reports a PostgreSQL server it cannot reach (or one that goes
away mid-load) with a 100-line SQLAlchemy/psycopg traceback, and through
Meltano that wall is all a user sees. The loader's own code is not ours, so
this wrapper runs target-postgres's unchanged CLI and only catches the
connection-level error (``OperationalError``) at the top, printing::

    target-postgres: error: cannot connect to PostgreSQL at HOST:PORT (reason)

Every other exception still ends in target-postgres's usual traceback: that
is a bug worth reporting, not an operational condition.
"""

from __future__ import annotations

import sys
import typing as t

import sqlalchemy.exc
from sqlalchemy.engine import make_url
from target_postgres.target import TargetPostgres

PROG = "target-postgres"
EXIT_FAILURE = 1
DEFAULT_PORT = 5432
#: How psycopg words a connection attempt that failed (psycopg 3 and 2).
_CONNECT_FAILED_MARKERS = (
    "connection failed",
    "could not connect",
    "connection to server at",
)


class DatabaseConnectionError(Exception):
    """The loader could not reach PostgreSQL, or lost it mid-load."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def server_address(config: t.Mapping[str, t.Any]) -> str:
    """``host:port`` of the server; never the URL, which may hold a password."""
    url = config.get("sqlalchemy_url")
    if url:
        parsed = make_url(str(url))
        return f"{parsed.host or 'localhost'}:{parsed.port or DEFAULT_PORT}"
    return f"{config.get('host') or 'localhost'}:{config.get('port') or DEFAULT_PORT}"


def reason(exc: BaseException) -> str:
    """The driver's own first line, without SQLAlchemy's wrapping."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    text = lines[0] if lines else type(orig).__name__
    # 'connection failed: connection to server at "h", port 1 failed: Connection
    # refused' -> 'Connection refused': the address is already in our message.
    return text.rsplit(" failed: ", 1)[-1]


def describe(exc: BaseException, config: t.Mapping[str, t.Any]) -> str:
    """One line naming the server, for a connection failed or lost."""
    where = server_address(config)
    orig = str(getattr(exc, "orig", None) or exc).lower()
    if any(marker in orig for marker in _CONNECT_FAILED_MARKERS):
        return f"cannot connect to PostgreSQL at {where} ({reason(exc)})"
    return (
        f"lost the connection to PostgreSQL at {where} mid-load ({reason(exc)}); "
        "batches committed before it stay, re-run to load the rest"
    )


class GuardedTargetPostgres(TargetPostgres):  # type: ignore[misc]  # untyped base
    """target-postgres, unchanged except that a lost database says so in one line.

    Only :meth:`listen` is wrapped: it is where every connection is made, and
    the instance (so the configured host and port) is at hand there.
    """

    def listen(self, file_input: t.IO[str] | None = None) -> None:
        """Read and load the Singer stream; connection errors become one line."""
        try:
            super().listen(file_input)
        except sqlalchemy.exc.OperationalError as exc:
            raise DatabaseConnectionError(describe(exc, self.config)) from exc


# `--about` reads the class docstring: keep target-postgres's own description.
GuardedTargetPostgres.__doc__ = TargetPostgres.__doc__


def main() -> None:
    """The ``target-postgres-mixoads`` console script."""
    try:
        GuardedTargetPostgres.cli()
    except DatabaseConnectionError as exc:
        sys.stderr.write(f"{PROG}: error: {exc.message}\n")
        sys.stderr.flush()
        sys.exit(EXIT_FAILURE)
