"""How long to wait before the next attempt of a failed call.

One policy for every call the tap makes (list pages, sync calls, the token
endpoint): exponential backoff with jitter for transient failures, and for a
429 exactly what the server asked for (``Retry-After`` header, else the
``retry_after`` field of the JSON body), bounded so that a confused server
cannot park the run for hours.
"""

from __future__ import annotations

import random
import typing as t

import requests

from tap_mixoads.errors import RateLimitedError

#: First backoff step in seconds; doubles on every further attempt.
BACKOFF_BASE_SECONDS = 1.0
#: Longest single backoff step for transient errors.
BACKOFF_CAP_SECONDS = 30.0
#: Longest wait a 429 may ask for before we cap it.
MAX_RETRY_AFTER_SECONDS = 120.0
#: Jitter added to a server-given delay, so concurrent callers do not stampede.
RETRY_AFTER_JITTER_SECONDS = 0.25


def parse_retry_after(response: requests.Response) -> float | None:
    """Read the delay a 429 asks for, from the header or else the JSON body.

    Args:
        response: the 429 response.

    Returns:
        Seconds to wait, or None if the response names no usable delay. Only
        the delta-seconds form of ``Retry-After`` is understood; an HTTP date
        falls back to the body field.
    """
    candidates: list[object] = [response.headers.get("Retry-After")]
    try:
        body = response.json()
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

    Args:
        attempt: 1 for the first retry, 2 for the second, ...
        base: the first step in seconds.

    Returns:
        Seconds to wait.
    """
    step = min(BACKOFF_CAP_SECONDS, base * 2 ** (attempt - 1))
    return float(step) / 2 + random.uniform(0, step / 2)


def wait_for(exception: BaseException | None, attempt: int) -> float:
    """Return how long to wait after ``exception`` failed attempt ``attempt``.

    Args:
        exception: what the failed attempt raised.
        attempt: 1 for the first retry, 2 for the second, ...

    Returns:
        Seconds to wait before the next attempt.
    """
    if isinstance(exception, RateLimitedError):
        if exception.retry_after is None:
            return expo_delay(attempt)
        asked = exception.retry_after
        jitter = random.uniform(0, RETRY_AFTER_JITTER_SECONDS)
        return min(asked, MAX_RETRY_AFTER_SECONDS) + jitter
    return expo_delay(attempt)


def wait_generator() -> t.Generator[float, BaseException | None, None]:
    """A ``backoff`` wait generator that sees each failure before answering.

    ``backoff`` primes the generator with ``send(None)`` and then sends the
    exception of every failed attempt, so the answer can depend on it (a 429's
    ``Retry-After``) rather than on the attempt number alone.

    Yields:
        Seconds to wait before the next attempt.
    """
    attempt = 0
    exception = yield 0.0
    while True:
        attempt += 1
        exception = yield wait_for(exception, attempt)
