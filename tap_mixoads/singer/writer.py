"""A faster Singer message writer: orjson, and no flush after every record.

Plugged in through the SDK's public ``message_writer_class``. The SDK's
writer encodes each message with simplejson and flushes stdout after every
one, which for a stream of small records costs more than extracting them.
This writer encodes with orjson straight into stdout's byte buffer and
flushes when it matters: after every non-RECORD message (SCHEMA, STATE, ...,
so state reaches the target promptly), at least every ``FLUSH_INTERVAL``
seconds while records flow, and at exit.

A record that knows when its page arrived (:class:`~tap_mixoads.extract.normalizer.
ExtractedRecord`) gets that as its ``time_extracted``; the SDK stamps the
moment of writing, which for a record that waited for its sync is later.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import decimal
import fcntl
import os
import stat
import sys
import time
import typing as t

import orjson
from singer_sdk.singerlib.encoding import GenericSingerWriter
from singer_sdk.singerlib.messages import RecordMessage, StateMessage
from typing_extensions import override

from tap_mixoads.errors import OutputClosedError
from tap_mixoads.extract.normalizer import ExtractedRecord

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.simple import Message

#: Longest time a written record may wait in the buffer before a flush.
FLUSH_INTERVAL_SECONDS = 0.5
#: Bytes gathered before one write to stdout. Our own buffer, because stdout
#: may be unbuffered (``python -u``, ``PYTHONUNBUFFERED``): one system call
#: per record would then dominate.
BUFFER_BYTES = 256 * 1024
_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
#: Capacity asked for stdout when it is a pipe (Linux's default is 64 KiB;
#: 1 MiB is the most an unprivileged process may ask by default) ...
PIPE_BYTES = 1024 * 1024
#: ... once a message other than a record is longer than this (a STATE with
#: many accounts' ledgers). Records alone gain nothing from a wider pipe, so
#: a run without such a message keeps the pipe it was given.
WIDEN_FOR_BYTES = 64 * 1024


def widen_pipe(fd: int, size: int = PIPE_BYTES) -> int | None:
    """Ask for a larger pipe behind ``fd``; its capacity, or None if not a pipe.

    A loader commits a batch without reading its input: target-postgres
    merges every 10,000 rows. The tap's last messages (the sync run, the
    final STATE with every account's ledger, 350 KB for 100 accounts) then
    wait on a 64 KiB pipe until the merge is done, and so does the tap's
    exit, with the API work long over. A wider pipe lets them go at once;
    the loader reads them in its own time, as from any buffer. The writer
    asks for it before the first such message (``WIDEN_FOR_BYTES``). Refused
    (a lower ``pipe-max-size``, the user's pipe quota), the pipe stays as
    it was: only the tap's exit is later.
    """
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return None
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
        return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
    except (OSError, AttributeError, ValueError):
        return None


def _default(value: t.Any) -> t.Any:
    """Encode what orjson does not know the way the SDK's writer does."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


class FastSingerWriter(GenericSingerWriter[bytes, "Message"]):
    """Writes Singer messages to stdout as compact JSON lines, buffered."""

    def __init__(self) -> None:
        super().__init__()
        self._last_flush = time.monotonic()
        self._text_flushed = False
        self._buffer = bytearray()
        self._pipe_widened = False
        # Records still buffered when the process ends normally must not be
        # lost (an exception, sys.exit, the end of the run).
        atexit.register(self.flush_at_exit)

    @override
    def serialize_message(self, message: Message) -> bytes:
        """Encode one message as a JSON line (newline included)."""
        if isinstance(message, RecordMessage) and isinstance(
            message.record, ExtractedRecord
        ):
            message.time_extracted = message.record.extracted_at
        if isinstance(message, StateMessage):
            # ``to_dict`` is ``dataclasses.asdict``: a deep copy of the whole
            # state (every account's ledger) only to be encoded at once.
            body: dict[str, t.Any] = {"type": "STATE", "value": message.value}
        else:
            body = message.to_dict()
        return orjson.dumps(body, default=_default, option=_OPTIONS)

    @override
    def format_message(self, message: Message) -> bytes:
        """Same as serialize_message: the line is already complete."""
        return self.serialize_message(message)

    @override
    def write_message(self, message: Message) -> None:
        """Write one message; records are buffered, anything else flushes."""
        self.write_line(
            self.serialize_message(message),
            is_record=isinstance(message, RecordMessage),
        )

    def write_line(self, line: bytes, *, is_record: bool) -> None:
        """Write an encoded line, flushing per the policy in the module doc."""
        if not self._text_flushed:
            # Anything printed through the text layer must come out first.
            sys.stdout.flush()
            self._text_flushed = True
        if not is_record and len(line) > WIDEN_FOR_BYTES and not self._pipe_widened:
            self._pipe_widened = True
            with contextlib.suppress(ValueError, OSError):
                widen_pipe(sys.stdout.fileno())
        self._buffer += line
        now = time.monotonic()
        if (
            not is_record
            or len(self._buffer) >= BUFFER_BYTES
            or now - self._last_flush >= FLUSH_INTERVAL_SECONDS
        ):
            self.flush()
            self._last_flush = now

    def flush(self) -> None:
        """Hand everything buffered to the reader (the target) now.

        Raises:
            OutputClosedError: the reader is gone; the buffer is dropped and
                stdout pointed at /dev/null, so that Python's own flush at
                exit cannot fail a second time. (Not an OSError on purpose:
                click would turn an EPIPE into a silent exit.)
        """
        if not self._buffer:
            return
        out = sys.stdout.buffer
        try:
            out.write(self._buffer)
            out.flush()
        except BrokenPipeError:
            self._buffer.clear()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            msg = "the loader stopped reading the tap's output (broken pipe)"
            raise OutputClosedError(msg) from None
        self._buffer.clear()

    def flush_at_exit(self) -> None:
        """Flush at interpreter exit; a reader that is gone is not news then."""
        with contextlib.suppress(OutputClosedError):
            self.flush()
