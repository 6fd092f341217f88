"""The shared budget's names, its error, and messages that never show a password."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import sqlite3
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from tap_mixoads.errors import BudgetStoreError, ConfigError

SETTING = "shared_budget_url"
#: Table names: this prefix plus a hash of the client id. pyrate-limiter
#: derives ``timestampindex_<name>`` from it, so ``<name>`` must stay within
#: 63 - 15 = 48 characters: 8 + 32 here (128 bits of sha256).
TABLE_PREFIX = "mixoads_"
TABLE_HASH_CHARS = 32
#: How long opening the store may take before the tap gives up (seconds).
CONNECT_TIMEOUT_S = 10
#: How long one operation on the store may take, waiting for this process's
#: connection included, before the store counts as failed (seconds). A turn
#: holds the connection for a few milliseconds. ``MIXOADS_STORE_TIMEOUT_SECONDS``
#: in the environment may shorten it (tests).
STORE_TIMEOUT_S = 30.0
STORE_TIMEOUT_ENV = "MIXOADS_STORE_TIMEOUT_SECONDS"
#: How pyrate-limiter's Postgres clock reads the time (the database's clock).
CLOCK_QUERY = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint"
#: Shown in ``pg_stat_activity`` unless the URL names an application itself.
APPLICATION_NAME = "tap-mixoads shared budget"
SECRET_PARAMS = frozenset({"password", "sslpassword", "passfile"})

LOG = logging.getLogger("tap-mixoads.shared_budget")


class SharedBudgetError(BudgetStoreError):
    """The shared budget's store failed during the run.

    The tap stops rather than carry on alone: without the store it cannot
    know what the other processes of the client id are sending.
    """


def store_timeout_s() -> float:
    """:data:`STORE_TIMEOUT_S`, or the environment's shorter value."""
    with contextlib.suppress(KeyError, ValueError):
        value = float(os.environ[STORE_TIMEOUT_ENV])
        if 0 < value < STORE_TIMEOUT_S:
            return value
    return STORE_TIMEOUT_S


def redact_url(url: str) -> str:
    """Return ``url`` without any password, for messages and logs.

    The password goes from the user info and from password-like query
    parameters; the rest (user, host, port, database, path) stays, because
    that is what a user needs to find the store that failed.

    Returns:
        The URL without secrets, or a placeholder if it cannot be parsed.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<unparseable URL>"
    if not parts.scheme:
        # Not a URL (perhaps a "key=value" DSN): blank out anything password-like.
        return re.sub(r"(?i)(password\s*=\s*)('[^']*'|\S+)", r"\1***", url)
    netloc = ""
    if parts.hostname is not None or parts.username is not None:
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        user = f"{parts.username}@" if parts.username else ""
        netloc = f"{user}{host}" + (f":{port}" if port is not None else "")
    query = urlencode(
        [
            (key, value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
            if key.lower() not in SECRET_PARAMS
        ]
    )
    if netloc or url[len(parts.scheme) :].startswith("://"):
        # urlunsplit would drop the empty authority of "sqlite:///path".
        return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
    return urlunsplit((parts.scheme, "", parts.path, query, ""))


def table_name(client_id: str) -> str:
    """Return the store's table name for ``client_id``.

    A hash rather than the id itself: ids differ in case (Postgres and SQLite
    fold unquoted names), may be longer than Postgres's 63-byte limit, and may
    hold characters no table name should.

    Returns:
        ``mixoads_`` and 32 lowercase hex digits.
    """
    digest = hashlib.sha256(client_id.encode("utf-8")).hexdigest()
    return TABLE_PREFIX + digest[:TABLE_HASH_CHARS]


def fail(url: str, what: str, err: BaseException | str) -> ConfigError:
    """Build the one-line, password-free error for a store that cannot be used."""
    reason = describe_error(err)
    for secret in secrets_of(url):
        reason = reason.replace(secret, "***")
    return ConfigError(f"setting '{SETTING}': {what} {redact_url(url)} ({reason})")


def secrets_of(url: str) -> list[str]:
    """The URL's password and other secret values, to scrub from messages."""
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        found = [unquote(parts.password)] if parts.password else []
        found += [
            value
            for key, value in parse_qsl(parts.query)
            if key.lower() in SECRET_PARAMS and value
        ]
        return found
    return []


def describe_error(err: BaseException | str) -> str:
    """Shorten a driver error to its cause, e.g. ``connection refused``."""
    text = str(err).strip() or type(err).__name__
    line = text.splitlines()[0].strip()
    line = line.rsplit(" failed: ", 1)[-1]
    line = re.sub(r"^(?:FATAL|ERROR):\s*", "", line).strip()
    if len(line) > 1 and line[1].islower():
        line = line[0].lower() + line[1:]
    return line


def is_psycopg_error(err: BaseException) -> bool:
    """Whether ``err`` comes from the Postgres driver or its pool."""
    return type(err).__module__.startswith(("psycopg", "psycopg_pool"))


def is_store_error(err: BaseException) -> bool:
    """Whether ``err`` means the store failed (not a bug of ours)."""
    return isinstance(err, sqlite3.Error | OSError) or is_psycopg_error(err)
