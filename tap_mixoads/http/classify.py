"""Sorting an answer into success, worth another attempt, or final failure.

Pure: it reads a response and raises; the retry policy
(:mod:`tap_mixoads.http.retry`) decides what a raised error is worth.
"""

from __future__ import annotations

import requests

from tap_mixoads.errors import APIRequestError, RateLimitedError, RetriableError
from tap_mixoads.http.responses import decode_json, describe, path_of
from tap_mixoads.http.retry import parse_retry_after


def classify(response: requests.Response) -> None:
    """Raise unless ``response`` is a 2xx with a JSON body.

    Raises:
        RateLimitedError: 429, with the delay the server asked for.
        RetriableError: 5xx, or a 2xx whose body is not valid JSON.
        APIRequestError: any other 4xx (a 401 here was already resent
            once with a fresh token by the transport).
    """
    status = response.status_code
    if status == requests.codes.too_many_requests:
        raise RateLimitedError(
            describe(response), response, parse_retry_after(response)
        )
    if status >= requests.codes.internal_server_error:
        raise RetriableError(describe(response), response)
    if status == requests.codes.unauthorized:
        raise APIRequestError(
            f"{describe(response)} with a freshly issued token", response
        )
    if status >= requests.codes.bad_request:
        raise APIRequestError(describe(response), response)
    try:
        decode_json(response)
    except ValueError:
        method = response.request.method
        msg = (
            f"{method} {path_of(response.url)} answered {status} with a "
            "malformed JSON body"
        )
        raise RetriableError(msg, response) from None
