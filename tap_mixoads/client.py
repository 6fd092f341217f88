"""The base REST stream: one place for URL, headers, timeout and retry policy.

Every call the tap makes goes through :meth:`MixoAdsStream._request`, list
pages and sync calls alike, so they share one policy:

- a connect+read timeout on every call (``request_timeout``), so a held-open
  connection cannot hang the run;
- up to ``max_retries`` attempts with jittered exponential backoff for 5xx,
  timeouts, connection resets and malformed bodies;
- 429s wait what the server asked for (see :mod:`tap_mixoads.retry`);
- a 401 "Token expired" renews the token and repeats the call once at once;
- other 4xx fail fast with a message naming the method, path and status;
- every attempt, retries included, first waits for the client-side pacer
  (see :mod:`tap_mixoads.ratelimit`).
"""

from __future__ import annotations

import datetime
import functools
import typing as t
from urllib.parse import urlsplit

import orjson
import requests
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.streams import RESTStream

from tap_mixoads.errors import (
    APIRequestError,
    RateLimitedError,
    RetriableError,
    TokenExpiredError,
)
from tap_mixoads.retry import parse_retry_after, wait_generator
from tap_mixoads.writer import FastSingerWriter

if t.TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk.helpers.types import Context

    from tap_mixoads.auth import MixoAdsAuthenticator
    from tap_mixoads.tap import TapMixoAds

#: The error text the API uses for an expired bearer token.
TOKEN_EXPIRED_ERROR = "Token expired"
#: Longest server error text quoted in our own messages.
MAX_QUOTED_ERROR_CHARS = 120
_JSON_CACHE_ATTR = "_mixoads_json"


def decode_json(response: requests.Response) -> t.Any:
    """Decode a response body once, fast, and remember the result on it.

    Raises:
        ValueError: the body is not valid JSON.
    """
    cached = response.__dict__.get(_JSON_CACHE_ATTR)
    if cached is None:
        cached = orjson.loads(response.content)
        response.__dict__[_JSON_CACHE_ATTR] = cached
    return cached


def forget_json(response: requests.Response) -> None:
    """Drop a consumed page's body, decoded and raw, to free its memory.

    The SDK keeps the last response alive until the next one has arrived;
    emptying it keeps memory at one page however many pages a run reads.
    """
    response.__dict__.pop(_JSON_CACHE_ATTR, None)
    response._content = b""


def describe(response: requests.Response) -> str:
    """Return ``METHOD /path -> status (error)`` for messages, without secrets.

    Only the path is shown: query strings and headers never reach a message.
    """
    request = response.request
    method = request.method if request is not None else "?"
    path = urlsplit(response.url or "").path
    detail = response.reason or ""
    try:
        body = decode_json(response)
    except ValueError:
        body = None
    if isinstance(body, dict) and (body.get("error") or body.get("message")):
        detail = str(body.get("error") or body.get("message"))
    detail = detail[:MAX_QUOTED_ERROR_CHARS]
    return f"{method} {path} answered {response.status_code} ({detail})"


def is_token_expired(response: requests.Response) -> bool:
    """Tell a "Token expired" 401 from other 401s (bad or missing token)."""
    if response.status_code != requests.codes.unauthorized:
        return False
    try:
        body = decode_json(response)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") == TOKEN_EXPIRED_ERROR


class MixoAdsStream(RESTStream[t.Any]):
    """Base stream for the Ad Platform API."""

    _tap: TapMixoAds
    #: When the page being emitted was received (ISO 8601, UTC): the records'
    #: ``time_extracted``, set by ``mark_extracted``.
    _extracted_at: str | None = None

    @property
    def url_base(self) -> str:
        """The API's base URL, from the ``api_url`` setting."""
        return str(self.config["api_url"]).rstrip("/")

    @property
    def http_headers(self) -> dict[str, str]:
        """Headers on every API call; ``X-Client-ID`` selects the rate bucket."""
        return {
            "Accept": "application/json",
            "User-Agent": self.user_agent,
            "X-Client-ID": str(self.config["client_id"]),
        }

    @property
    def authenticator(self) -> MixoAdsAuthenticator:
        """The one authenticator of the run, shared by all streams and threads."""
        return self._tap.authenticator

    @property
    def requests_session(self) -> requests.Session:
        """The run's session, whose adapter paces ``/api/*`` calls."""
        return self._tap.requests_session

    @property
    def timeout(self) -> float:  # type: ignore[override]
        """Connect+read timeout of every call, from ``request_timeout``."""
        return float(self.config["request_timeout"])

    def backoff_max_tries(self) -> int:
        """Attempts per call before giving up, from ``max_retries``."""
        return int(self.config["max_retries"])

    def backoff_wait_generator(self) -> t.Generator[float, t.Any, None]:
        """Backoff that honours a 429's ``Retry-After`` (see retry.py)."""
        return wait_generator()

    def backoff_jitter(self, value: float) -> float:
        """No extra jitter: :mod:`tap_mixoads.retry` already applies it."""
        return value

    def backoff_handler(self, details: Details) -> None:
        """Log a retry with the failure's short description, never its args."""
        exc = details.get("exception")
        self.logger.warning(
            "Retrying in %.1f s after attempt %d of %d: %s",
            details.get("wait") or 0.0,
            details.get("tries") or 0,
            self.backoff_max_tries(),
            self.describe_failure(exc),
        )

    @staticmethod
    def describe_failure(exc: BaseException | None) -> str:
        """A one-line, secret-free description of a failed attempt."""
        if exc is None:
            return "unknown failure"
        if isinstance(exc, requests.exceptions.Timeout):
            return f"no answer within the timeout ({type(exc).__name__})"
        if isinstance(exc, requests.exceptions.RequestException):
            return f"connection failed ({type(exc).__name__})"
        text = str(exc.args[0]) if exc.args else type(exc).__name__
        return text.splitlines()[0] if text else type(exc).__name__

    def mark_extracted(self) -> None:
        """Note that a page just arrived: its records were extracted now."""
        self._extracted_at = datetime.datetime.now(datetime.timezone.utc).isoformat()

    @functools.cached_property
    def _fast_records(self) -> bool:
        """Whether records can skip the SDK's generic per-record pipeline.

        The stream already emits records exactly as its schema types them, so
        when no stream map, flattening or field deselection applies, the
        SDK's per-record selection pruning, mapping, conformance and message
        object would only cost time. Otherwise the SDK path is used.
        """
        maps = self.stream_maps
        all_selected = all(
            self.mask.get(("properties", name), True)
            for name in self.schema["properties"]
        )
        return (
            isinstance(self._tap.message_writer, FastSingerWriter)
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == self.name
            and not self.config.get("flattening_enabled")
            and all_selected
        )

    def _write_record_message(self, record: dict[str, t.Any]) -> None:
        """Write one RECORD message, through the fast path when it applies."""
        if not self._fast_records:
            super()._write_record_message(record)
            return
        payload: dict[str, t.Any] = {"type": "RECORD", "stream": self.name}
        payload["record"] = record
        if self._stream_version is not None:
            payload["version"] = self._stream_version
        if self._extracted_at is None:
            self.mark_extracted()
        payload["time_extracted"] = self._extracted_at
        writer = self._tap.message_writer
        assert isinstance(writer, FastSingerWriter)  # checked by _fast_records
        writer.write_record(payload)
        self.state_manager.is_flushed = False

    def validate_response(self, response: requests.Response) -> None:
        """Sort a response into success, retriable or fatal.

        Raises:
            TokenExpiredError: 401 "Token expired" (retriable: renews the token).
            RateLimitedError: 429, with the delay the server asked for.
            RetriableError: 5xx, or a 2xx whose body is not valid JSON.
            APIRequestError: any other 4xx: retrying would not help.
        """
        status = response.status_code
        if status == requests.codes.too_many_requests:
            raise RateLimitedError(
                describe(response), response, parse_retry_after(response)
            )
        if is_token_expired(response):
            raise TokenExpiredError(describe(response), response)
        if status >= requests.codes.internal_server_error:
            raise RetriableError(describe(response), response)
        if status >= requests.codes.bad_request:
            raise APIRequestError(describe(response), response)
        try:
            decode_json(response)
        except ValueError:
            path = urlsplit(response.url or "").path
            method = response.request.method
            msg = f"{method} {path} answered {status} with a malformed JSON body"
            raise RetriableError(msg, response) from None

    def _request(
        self,
        prepared_request: requests.PreparedRequest,
        context: Context | None,
    ) -> requests.Response:
        """Send one attempt; on "Token expired", renew and resend once at once.

        The immediate resend does not wait for backoff: the failure was ours
        (a stale token), not the server's. Should the fresh token be refused
        as well, the error goes through the normal retry policy.
        """
        response = self._send(prepared_request, context)
        if is_token_expired(response):
            self.logger.info(
                "%s %s: token expired; renewing it and retrying once",
                prepared_request.method,
                urlsplit(prepared_request.url or "").path,
            )
            self.authenticator.invalidate(response.request)
            response = self._send(prepared_request, context)
        self.validate_response(response)
        return response

    def _send(
        self,
        prepared_request: requests.PreparedRequest,
        context: Context | None,
    ) -> requests.Response:
        """Wait for the pacer, then authenticate and send one attempt.

        Pacing first: a call may wait its turn for a while, and the token
        must be checked for freshness when the call leaves, not before. A
        token renewal (itself retried when the token endpoint fails) can hold
        every worker that already has its turn; ``mark_sending`` spaces them
        out again by their real departure times, so they never reach the
        server in a burst.
        """
        pacer = self._tap.pacer
        pacer.acquire()
        authenticated = self.authenticator(prepared_request.copy())
        pacer.mark_sending()
        response = self.requests_session.send(
            authenticated, timeout=self.timeout, allow_redirects=self.allow_redirects
        )
        self._write_request_duration_log(
            endpoint=self.path,
            response=response,
            context=context,
            extra_tags=None,
        )
        return response
