"""One retry policy for every call the tap makes: list, sync and token alike.

Exponential backoff with "equal jitter" for transient failures (5xx, timeouts,
connection resets, malformed bodies), and for a 429 exactly what the server
asked for (``Retry-After`` header, else the body's ``retry_after``), and a 429
that asks for more than ``max_rate_limit_wait`` is not waited out at all: it
gives up at once (a daily quota is not worth burning retries on), so a
confused server cannot park the run for hours.

The stream hands :meth:`RetryPolicy.decorate` to the SDK as its
``request_decorator``, and the token exchange decorates its own call with the
same object, so there is exactly one retry loop and one log line per retry.
"""

from __future__ import annotations

import random
import typing as t

import backoff
import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_mixoads.errors import RateLimitedError
from tap_mixoads.http.responses import decode_json, describe_attempt

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    from backoff.types import Details

    from tap_mixoads.http.labels import AccountLog

#: First backoff step in seconds; doubles on every further attempt.
BACKOFF_BASE_SECONDS = 1.0
#: Longest single backoff step for transient errors.
BACKOFF_CAP_SECONDS = 30.0
#: Jitter added to a server-given delay, so concurrent callers do not stampede.
RETRY_AFTER_JITTER_SECONDS = 0.25

#: What is worth another attempt. The SDK's own list, so that its semantics
#: carry over unchanged.
RETRIABLE_EXCEPTIONS: tuple[type[Exception], ...] = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

_F = t.TypeVar("_F", bound="Callable[..., t.Any]")


def parse_retry_after(response: requests.Response) -> float | None:
    """Read the delay a 429 asks for, from the header or else the JSON body.

    Returns:
        Seconds to wait, or None if the response names no usable delay. Only
        the delta-seconds form of ``Retry-After`` is understood; an HTTP date
        falls back to the body field.
    """
    candidates: list[object] = [response.headers.get("Retry-After")]
    try:
        body = decode_json(response)
    except ValueError:
        body = None
    if isinstance(body, dict):
        candidates.append(body.get("retry_after"))
    for value in candidates:
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if seconds >= 0:
            return seconds
    return None


def expo_delay(attempt: int, *, base: float = BACKOFF_BASE_SECONDS) -> float:
    """Return the jittered exponential delay before retry number ``attempt``.

    "Equal jitter": half the step is fixed, half random, so retries from
    concurrent workers spread out but never collapse to zero.
    """
    step = min(BACKOFF_CAP_SECONDS, base * 2 ** (attempt - 1))
    return float(step) / 2 + random.uniform(0, step / 2)


def wait_for(exception: BaseException | None, attempt: int) -> float:
    """Return how long to wait after ``exception`` failed attempt ``attempt``.

    A 429 waits exactly what it asked for (plus a little jitter); one asking
    for more than ``max_rate_limit_wait`` never gets here (see ``gives_up``).
    """
    if isinstance(exception, RateLimitedError) and exception.retry_after is not None:
        return exception.retry_after + random.uniform(0, RETRY_AFTER_JITTER_SECONDS)
    return expo_delay(attempt)


def wait_generator() -> t.Generator[float, BaseException | None, None]:
    """A ``backoff`` wait generator that sees each failure before answering.

    ``backoff`` primes the generator with ``send(None)`` and then sends the
    exception of every failed attempt, so the answer can depend on it (a 429's
    ``Retry-After``) rather than on the attempt number alone.
    """
    attempt = 0
    exception = yield 0.0
    while True:
        attempt += 1
        exception = yield wait_for(exception, attempt)


class RetryPolicy:
    """How often and how long to retry, and how a retry is logged.

    Args:
        max_tries: attempts per call before giving up (``max_retries``).
        max_rate_limit_wait: longest ``Retry-After`` worth waiting for; a 429
            asking for more gives up at once.
        logger: where the one line per retry goes.
        on_retry: called once per retry (for the run report's counters).
    """

    def __init__(
        self,
        *,
        max_tries: int,
        max_rate_limit_wait: float,
        logger: logging.Logger | AccountLog,
        on_retry: Callable[[BaseException | None], None] | None = None,
    ) -> None:
        self.max_tries = max_tries
        self.max_rate_limit_wait = max_rate_limit_wait
        self.logger = logger
        self._on_retry = on_retry

    def gives_up(self, exc: BaseException) -> bool:
        """A 429 asking for a wait beyond reason is not retried."""
        return (
            isinstance(exc, RateLimitedError)
            and exc.retry_after is not None
            and exc.retry_after > self.max_rate_limit_wait
        )

    def log_retry(self, details: Details) -> None:
        """One line per retry, with the failure's short description only."""
        exc = details.get("exception")
        self.logger.warning(
            "Retrying in %.1f s after attempt %d of %d: %s",
            details.get("wait") or 0.0,
            details.get("tries") or 0,
            self.max_tries,
            describe_attempt(exc),
        )
        if self._on_retry is not None:
            self._on_retry(exc)

    def decorate(self, func: _F) -> _F:
        """``func`` retried per this policy (``backoff`` logs nothing itself)."""
        decorated: _F = backoff.on_exception(
            wait_generator,
            RETRIABLE_EXCEPTIONS,
            max_tries=self.max_tries,
            giveup=self.gives_up,
            on_backoff=self.log_retry,
            jitter=None,
            logger=None,
        )(func)
        return decorated
