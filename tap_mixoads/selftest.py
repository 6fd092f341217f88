"""``tap-mixoads --test``: a connection test whose exit status is the truth.

The SDK's test (``Tap.run_connection_test``) caps each stream at one record
by raising ``MaxRecordsLimitException`` when the second record arrives; the
stream turns that into ``AbortedSyncFailedException`` and ``Stream.sync``
(final) logs "An unhandled error occurred while syncing 'campaigns'" at
ERROR before the test swallows it. It also returns True when a stream read
nothing at all. Left as it is, ``meltano invoke tap-mixoads --test`` would
print an error on success and exit 0 on an empty answer.

Before it, every account's token exchange is tried (the SDK's test stops
at the first record, which only the first account produces): an account
that cannot log in fails the test with one line naming it. A shard that
holds no account has nothing to test and passes, after its warning.

This test runs the same SDK method, through public parts only: a logging
filter drops exactly that one line when its cause is the SDK's own record
limit (any other error is still logged), and a counting message writer
tells whether a RECORD was written. No record: one line, exit 1.

The campaigns stream stops at the run's record limit itself (the run's
mode, :mod:`tap_mixoads.config.mode`), so the SDK does not raise for it; the
filter guards any stream that does not.

The CLI's parsed ``--config`` value is read through
:func:`tap_mixoads.private_api.cli_config_input` (a private SDK name, kept
there with its guard test).
"""

from __future__ import annotations

import logging
import sys
import typing as t

from singer_sdk.exceptions import MaxRecordsLimitException
from typing_extensions import override

from tap_mixoads.errors import MixoAdsError
from tap_mixoads.private_api import cli_config_input

if t.TYPE_CHECKING:
    import click
    from singer_sdk import Tap
    from singer_sdk.singerlib.encoding.simple import Message

    from tap_mixoads.engine.run import RunContext

#: How ``Stream.sync`` words its log line for an exception leaving the stream.
UNHANDLED_ERROR_PREFIX = "An unhandled error occurred while syncing"


class NoRecordError(MixoAdsError):
    """The connection test ran but no stream produced a record."""


class OwnAbortFilter(logging.Filter):
    """Drop the SDK's "unhandled error" line when it is the test's own stop."""

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(UNHANDLED_ERROR_PREFIX):
            return True
        # Logged inside ``except Exception:``: the exception in flight is ours.
        exc = sys.exc_info()[1]
        while exc is not None:
            if isinstance(exc, MaxRecordsLimitException):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


def counting_writer(base: type[t.Any]) -> t.Any:
    """An instance of ``base`` (the tap's writer) that counts RECORDs."""

    class CountingWriter(base):  # type: ignore[misc]
        records = 0

        @override
        def write_message(self, message: Message) -> None:
            if getattr(message, "type", None) == "RECORD":
                self.records += 1
            super().write_message(message)

    return CountingWriter()


def run(tap_class: type[Tap], ctx: click.Context) -> None:
    """Build the tap from the CLI's config, test it, and exit 0 or raise.

    Raises:
        NoRecordError: if no stream produced a record.
    """
    config, parse_env = cli_config_input(ctx.params.get("config"))
    writer = counting_writer(tap_class.message_writer_class)
    tap = tap_class(
        config=config,
        parse_env_config=parse_env,
        validate_config=True,
        message_writer=writer,
    )
    run: RunContext = tap.run  # type: ignore[attr-defined]
    if not run.accounts:
        # An empty shard (the warning says which): the settings are fine and
        # there is nothing to log in to or read, so the test passes.
        ctx.exit()
    run.check_logins()  # every account, not only the one whose record comes first
    own_abort = OwnAbortFilter()
    loggers = [stream.logger for stream in tap.streams.values()]
    for logger in loggers:
        logger.addFilter(own_abort)
    try:
        tap.run_connection_test()
    finally:
        for logger in loggers:
            logger.removeFilter(own_abort)
    if writer.records == 0:
        names = ", ".join(tap.streams)
        msg = f"--test read no record from any stream ({names}): is the account empty?"
        raise NoRecordError(msg)
    ctx.exit()
