"""Every error the tap raises on purpose, documented in one place.

The hierarchy follows the SDK's split between retriable and fatal API errors so
that the SDK's own retry decorator keeps working, and adds a common base,
:class:`MixoAdsError`, whose message is always a single line that names the
setting, endpoint or status at fault and never contains a secret. The CLI
wrapper prints exactly that line and exits non-zero instead of a traceback.
"""

from __future__ import annotations

import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError


class MixoAdsError(Exception):
    """Base class: a one-line, secret-free explanation for the user."""


class ConfigError(MixoAdsError):
    """A setting is missing or has a value the tap cannot work with."""


class AuthenticationError(MixoAdsError, FatalAPIError):
    """The token endpoint refused the credentials: retrying cannot help."""


class TokenEndpointError(MixoAdsError, FatalAPIError):
    """The token endpoint kept failing after every allowed attempt."""


class APIRequestError(MixoAdsError, FatalAPIError):
    """An ``/api/*`` call failed in a way that retrying will not fix (4xx).

    Attributes:
        response: the failed response, for callers that record its status.
    """

    def __init__(self, message: str, response: object = None) -> None:
        super().__init__(message)
        self.response = response


class RedirectRefusedError(APIRequestError):
    """A redirect the tap does not follow: another origin, no Location, ...

    The account's token (and its Basic credentials) go to ``api_url``'s
    origin only; a call redirected elsewhere fails, never retried.
    """


class RetriableError(MixoAdsError, RetriableAPIError):
    """A transient failure (5xx, malformed body) worth another attempt."""


class RateLimitedError(RetriableError):
    """The server answered 429; ``retry_after`` says how long it asked to wait.

    Attributes:
        retry_after: seconds the server asked for, or None if it did not say.
    """

    def __init__(
        self, message: str, response: object, retry_after: float | None
    ) -> None:
        super().__init__(message, response)  # type: ignore[arg-type]
        self.retry_after = retry_after


class TokenExpiredError(RetriableError):
    """The server said the bearer token expired: renew it and retry once."""


class AccountStoppedError(MixoAdsError):
    """The account cannot go on in this run, through no campaign's fault.

    Raised by a call that cannot get a turn in its client id's budget. The
    sync hook stops syncing and loads the account's remaining campaigns as
    ``deferred`` (not ``failed``: neither a campaign's failing-run count nor
    the breaker moves), and the account fails with this line, as after a 429
    asking for more than ``max_rate_limit_wait``.
    """


class BudgetStoreError(AccountStoppedError):
    """The shared budget's store (``shared_budget_url``) failed or went quiet.

    Without the store the tap cannot know what the other processes of the
    client id send, so it stops rather than pace itself alone.
    """


class BudgetWaitTooLongError(AccountStoppedError):
    """The budget's next turn is further away than ``max_rate_limit_wait``.

    Only a turn recorded in the future can be that far (a tampered store, a
    database clock stepped back): waiting for it would stall the run.
    """


class OutputClosedError(MixoAdsError):
    """Whoever reads the tap's output (the loader) has gone away."""


class ShortReadError(RetriableError):
    """A page yielded fewer campaigns than the API's total promises.

    Retriable: a re-read of the page may recover; after the last attempt the
    run fails with this one line.
    """


class ResponseTooLargeError(ShortReadError):
    """A body grew past ``max_response_bytes`` (decoded): retried, then fatal.

    A kind of short read: the page could not be read whole; its message
    names the call and the cap.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, None)


class AccountFailedError(MixoAdsError):
    """One or more accounts failed; the others' data was emitted and saved."""


class DeadlineExceededError(requests.exceptions.Timeout):
    """An attempt outlasted its total deadline (a slow-but-steady body).

    A ``Timeout``, so the retry policy treats it like any other timeout; its
    message names the call and the deadline.
    """


class RunInterruptedError(BaseException):
    """SIGINT or SIGTERM arrived: stop at once, exit 128 + the signal number.

    A ``BaseException`` (like ``KeyboardInterrupt``), so that no
    ``except Exception`` on the way up can swallow it.

    Attributes:
        signum: the signal that interrupted the run.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum
