"""Knobs and named profiles of the mock Ad Platform API.

Every behaviour of the mock (limits, delays, each failure mode) is a knob on
one flat dataclass, so that the CLI, environment variables, the harness and
the runtime ``/_mock/config`` endpoint all change the same thing the same way.
A profile is only a named set of knob values; any knob can be overridden on
top of it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mock_api.parsing import ConfigError as ConfigError  # re-exported
from mock_api.parsing import parse_value

#: Where the vendor's published demo credentials live: one place for the
#: tap's users, the demo and this mock (test credentials only).
DEMO_CREDENTIALS_FILE = Path(__file__).resolve().parent.parent / ".env.example"


def _demo_value(key: str) -> str:
    """Read one ``KEY=value`` line of ``.env.example``."""
    for line in DEMO_CREDENTIALS_FILE.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == key:
            return value.strip()
    raise ConfigError(f"{key} not found in {DEMO_CREDENTIALS_FILE}")


def demo_email() -> str:
    """The vendor's demo account email."""
    return _demo_value("TAP_MIXOADS_EMAIL")


def demo_password() -> str:
    """The vendor's demo account password."""
    return _demo_value("TAP_MIXOADS_PASSWORD")


ENV_PREFIX = "MOCK_API_"

RATE_KNOBS = (
    "error_rate",
    "sync_error_rate",
    "hang_rate",
    "html_500_rate",
    "reset_rate",
    "truncated_json_rate",
    "slow_body_rate",
    "token_error_rate",
    "missing_field_rate",
    "wrong_type_rate",
    "extra_field_rate",
)

#: Values of ``page_fault`` (see :class:`Config`).
PAGE_FAULTS = (
    "none",
    "empty_after",
    "non_list",
    "non_list_object",
    "duplicate_page",
    "ignore_page",
)
#: Values of ``bad_values``; the docstring of :class:`Config` says which
#: campaign gets which.
BAD_VALUES = (
    "nul",
    "bigint",
    "bigstring",
    "longid",
    "dotdot",
    "surrogate",
    "nul_sync_error",
    "int64low",
    "bigstring53",
    "deep",
)
RETRY_AFTER_MODES = ("window", "exact")


@dataclasses.dataclass
class Config:
    """All knobs; the defaults are the documented vendor behaviour.

    The knobs below the vendor's own (accounts, page faults, sync faults, bad
    values, steady trickle, token amnesia, forced 429) each default to "off",
    i.e. to the vendor's documented behaviour:

    Accounts:
        accounts: How many accounts can log in. Account 1 is the vendor's demo
            account (``email``/``password``); account k >= 2 logs in with
            :func:`mock_api.accounts.account_credentials` ``(k)``. A token
            belongs to the account that obtained it and lists that account's
            campaigns: the same ids ``campaign_1..N``, but for k >= 2 the name
            is ``Campaign <i> (acct <k>)`` and the budget ``1000 + 100 i + k``.

    Rate limiting:
        retry_after_mode: How a 429 computes its advised wait: ``window``
            (the whole window) or ``exact`` (until the oldest call leaves it).
        retry_after_seconds: When > 0, every 429 (real or forced) advises
            exactly this many seconds instead, in ``Retry-After`` and in the
            body's ``retry_after`` (e.g. 3600 for "come back in an hour").
        force_429_after: When > 0, a client id that already had this many
            calls accepted (not rate limited) gets 429 on every further
            /api call, whatever the real limiter says.
        force_429_client: Restrict ``force_429_after`` to this X-Client-ID
            (``default`` for calls without the header); empty = every client.

    Auth:
        token_amnesia: Tokens older than ``token_amnesia_after`` seconds are
            forgotten, as by a server restart: 401 ``{"error": "Invalid
            token"}`` (not "Token expired"). ``POST /_mock/forget_tokens``
            forgets every token issued so far, whatever this knob says.
        token_amnesia_after: Age in seconds at which ``token_amnesia``
            forgets a token; 0 = only at ``/_mock/forget_tokens``.

    Listing:
        page_fault: One of ``none``; ``empty_after`` (pages numbered above
            ``page_fault_page`` answer ``data: []`` with the true total);
            ``non_list`` (page ``page_fault_page`` answers ``data: null``);
            ``non_list_object`` (same page, ``data`` is an object);
            ``duplicate_page`` (page ``page_fault_page`` repeats the rows of
            the page before it); ``ignore_page`` (every page serves page 1's
            rows and says ``page: 1``).
        page_fault_page: The page the fault is about (default 2).
        page_fault_times: Heal after this many faulty pages (then the
            right page is served); 0 = forever. Cleared by ``/_mock/reset``
            and by changing any ``page_fault*`` knob.
        pad_last_page: The last real page is filled up to ``limit`` with
            phantom campaigns ``campaign_<total+1>..`` (their sync answers
            the vendor's JSON 404), like the phantom pages of
            ``vendor_quirks``.
        repeat_campaign: Items ``<id>@<page>`` (comma separated; a bare
            number means ``campaign_<n>``): that campaign also appears on
            that page, in place of the page's last row (which is then
            missing from the listing; ``total`` is unchanged).
        bad_values: Hostile values, each in fixed campaigns (of every
            account): ``nul`` - campaign_2's name contains U+0000;
            ``bigint`` - campaign_3's impressions = 2**63; ``bigstring`` -
            campaign_4's budget = ``"1e30"`` and campaign_5's budget a
            30-digit numeric string; ``longid`` - campaign_6's id is 10 KiB
            long; ``dotdot`` - campaign_7's id is ``..`` and campaign_8's
            ``a/../b``; ``surrogate`` - campaign_9's name contains a lone
            surrogate, written as the JSON escape ``\\ud800`` (strict
            decoders such as orjson reject the whole page);
            ``nul_sync_error`` - the sync of campaign_10 answers 500 with an
            error message containing U+0000; ``int64low`` - campaign_11's
            clicks are the integer literal -2**63 - 1 (decoders that read it
            as a float round it to -2**63); ``bigstring53`` - campaign_12's
            budget is ``"9007199254740993"`` (2**53 + 1: a float loses the
            last digit); ``deep`` - campaign_13's name is an array nested
            5,000 levels deep (past every JSON decoder's depth limit).
        first_page_body: When not empty, page 1 of the list answers 200
            with exactly this text as its JSON body (``{}``,
            ``{"status":"ok"}``, ``[]``, ``null``...), as a wrong base URL, a
            captive proxy or a health endpoint would; other pages are normal.
        redirect_route: ``list``, ``sync`` or ``token``: that route answers
            ``redirect_status`` with ``Location: redirect_location`` (no
            Location header when it is empty) instead of its answer, for the
            first ``redirect_times`` calls (0 = every call). A Location on
            another host:port tests that no credential follows it.
        slow_headers: List answers trickle their status line and headers at
            ``slow_steady_bytes_per_second`` (so no read timeout fires before
            the body even starts); after ``slow_steady_seconds`` the server
            drops the connection.
        body_bomb: ``gzip``: list answers are ``Content-Encoding: gzip``
            bodies of ``body_bomb_bytes`` zero bytes once decoded (1 MiB gzip
            members, ~1 KB each on the wire: 2 GiB decoded is ~2 MB sent);
            ``plain``: list answers are ``body_bomb_bytes`` of spaces. Either
            is streamed, so the mock itself stays small.
        slow_steady_body: List answers trickle at
            ``slow_steady_bytes_per_second``, so no read timeout ever fires;
            after ``slow_steady_seconds`` the server drops the connection.

    Sync:
        sync_fail_ids: Campaign ids whose sync always answers JSON 500.
        sync_429_ids: Campaign ids whose sync always answers 429 (Retry-After
            1 s, or ``retry_after_seconds``), whatever the limiter says.
        sync_route_missing: Every sync answers 404 with a text/html
            ``Cannot POST <path>`` page, as a proxy or a router without the
            route would - unlike the vendor's own JSON 404 ``{"error": "Not
            Found", "message": "Campaign <id> not found."}`` for an unknown
            campaign.
        sync_down: Every sync answers JSON 503.
        sync_unknown_ids: Campaign ids that are listed but whose sync answers
            the vendor's JSON 404 (``Campaign <id> not found.``), as if they
            were deleted between the listing and the sync.

    Campaigns changed between runs (through ``POST /_mock/config``):
        edited_campaigns: Items ``<account>:<id>``: that account's campaign
            has its settings changed (budget + 1 and " (edited)" after its
            name), as a user editing it on the platform would.
        deleted_campaigns: Items ``<account>:<id>``: that account's campaign
            is deleted: not listed (the total drops), and its sync answers
            the vendor's JSON 404.
    """

    campaigns: int = 100
    max_limit: int = 10000
    vendor_quirks: bool = True
    accounts: int = 1
    # Rate limiting.
    rate_limit: int = 10
    rate_window: float = 60.0
    count_rejected: bool = True
    retry_after_mode: str = "window"
    retry_after_header: bool = True
    retry_after_body: bool = True
    retry_after_seconds: int = 0
    force_429_after: int = 0
    force_429_client: str = ""
    # Auth.
    email: str = dataclasses.field(default_factory=demo_email)
    password: str = dataclasses.field(default_factory=demo_password)
    token_ttl: float = 3600.0
    token_error_rate: float = 0.0
    token_amnesia: bool = False
    token_amnesia_after: float = 0.0
    # Sync.
    sync_delay: float = 2.0
    sync_error_rate: float = 0.0
    sync_fail_ids: tuple[str, ...] = ()
    sync_429_ids: tuple[str, ...] = ()
    sync_route_missing: bool = False
    sync_down: bool = False
    sync_unknown_ids: tuple[str, ...] = ()
    # Campaigns edited or deleted on the platform (per account).
    edited_campaigns: tuple[str, ...] = ()
    deleted_campaigns: tuple[str, ...] = ()
    # Page-level faults of the list endpoint.
    page_fault: str = "none"
    page_fault_page: int = 2
    page_fault_times: int = 0
    pad_last_page: bool = False
    repeat_campaign: tuple[str, ...] = ()
    bad_values: tuple[str, ...] = ()
    first_page_body: str = ""
    redirect_route: str = ""
    redirect_status: int = 302
    redirect_location: str = ""
    redirect_times: int = 0
    slow_headers: bool = False
    body_bomb: str = ""
    body_bomb_bytes: int = 2**31
    slow_steady_body: bool = False
    slow_steady_bytes_per_second: float = 2.0
    slow_steady_seconds: float = 120.0
    # Transport-level faults.
    error_rate: float = 0.2
    hang_rate: float = 0.1
    hang_seconds: float = 300.0
    html_500_rate: float = 0.0
    reset_rate: float = 0.0
    truncated_json_rate: float = 0.0
    slow_body_rate: float = 0.0
    slow_body_seconds: float = 1.0
    # Data faults.
    missing_field_rate: float = 0.0
    wrong_type_rate: float = 0.0
    extra_field_rate: float = 0.0
    total_drift: int = 0
    # Randomness: None draws a fresh seed from the OS.
    seed: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the knobs as plain JSON types (tuples become lists)."""
        out = dataclasses.asdict(self)
        for name, value in out.items():
            if isinstance(value, tuple):
                out[name] = list(value)
        return out


_VENDOR: dict[str, Any] = {}
_FAST: dict[str, Any] = {
    "rate_window": 3.0,
    "hang_seconds": 30.0,
    "sync_delay": 0.2,
    "token_ttl": 20.0,
}
PROFILES: dict[str, dict[str, Any]] = {
    "vendor": _VENDOR,
    "fast": _FAST,
    "calm": {
        "rate_limit": 0,
        "error_rate": 0.0,
        "hang_rate": 0.0,
        "sync_delay": 0.0,
        "token_ttl": 3600.0,
        "vendor_quirks": False,
    },
    "chaos": {
        **_FAST,
        "html_500_rate": 0.05,
        "reset_rate": 0.05,
        "truncated_json_rate": 0.05,
        "slow_body_rate": 0.05,
        "slow_body_seconds": 1.0,
        "token_error_rate": 0.2,
        "token_ttl": 5.0,
        "missing_field_rate": 0.02,
        "wrong_type_rate": 0.05,
        "extra_field_rate": 0.05,
        "total_drift": 3,
    },
}

KNOBS: dict[str, dataclasses.Field[Any]] = {
    f.name: f for f in dataclasses.fields(Config)
}


def coerce(name: str, value: Any) -> Any:
    """Convert a knob value from text or JSON into the knob's type.

    One converter serves the CLI, env vars and the runtime endpoint, so a
    value means the same thing wherever it comes from.
    """
    if name not in KNOBS:
        raise ConfigError(f"unknown knob: {name}")
    return parse_value(name, str(KNOBS[name].type), value)


def _validate(cfg: Config) -> None:
    for name in RATE_KNOBS:
        rate = getattr(cfg, name)
        if not 0.0 <= rate <= 1.0:
            raise ConfigError(f"{name} must be within [0, 1], got {rate}")
    if cfg.retry_after_mode not in RETRY_AFTER_MODES:
        raise ConfigError(f"retry_after_mode must be one of {RETRY_AFTER_MODES}")
    if cfg.page_fault not in PAGE_FAULTS:
        raise ConfigError(f"page_fault must be one of {PAGE_FAULTS}")
    unknown = set(cfg.bad_values) - set(BAD_VALUES)
    if unknown:
        raise ConfigError(f"bad_values: unknown {sorted(unknown)}; of {BAD_VALUES}")
    if cfg.accounts < 1 or cfg.page_fault_page < 1:
        raise ConfigError("accounts and page_fault_page must be >= 1")
    counts = (
        cfg.page_fault_times,
        cfg.retry_after_seconds,
        cfg.force_429_after,
        cfg.token_amnesia_after,
    )
    if min(counts) < 0:
        raise ConfigError(
            "page_fault_times, retry_after_seconds, force_429_after and "
            "token_amnesia_after must be >= 0"
        )
    if cfg.slow_steady_bytes_per_second <= 0 or cfg.slow_steady_seconds <= 0:
        raise ConfigError("slow_steady_bytes_per_second/_seconds must be > 0")
    if cfg.rate_limit < 0 or cfg.rate_window <= 0:
        raise ConfigError("rate_limit must be >= 0 and rate_window > 0")
    if cfg.campaigns < 0 or cfg.max_limit < 1 or cfg.total_drift < 0:
        raise ConfigError("campaigns/total_drift must be >= 0, max_limit >= 1")
    if cfg.token_ttl <= 0:
        raise ConfigError("token_ttl must be > 0")
    if cfg.redirect_route not in ("", "list", "sync", "token"):
        raise ConfigError("redirect_route must be list, sync, token or empty")
    if cfg.body_bomb not in ("", "gzip", "plain") or cfg.body_bomb_bytes < 1:
        raise ConfigError("body_bomb must be gzip, plain or empty; bytes >= 1")


def apply(cfg: Config, changes: Mapping[str, Any]) -> Config:
    """Return a copy of ``cfg`` with ``changes`` applied and validated."""
    values = {name: coerce(name, value) for name, value in changes.items()}
    new = dataclasses.replace(cfg, **values)
    _validate(new)
    return new


def env_knobs(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Collect ``MOCK_API_<KNOB>`` variables that name a real knob."""
    env = os.environ if environ is None else environ
    out = {}
    for name in KNOBS:
        key = ENV_PREFIX + name.upper()
        if key in env:
            out[name] = env[key]
    return out


def build(profile: str, overrides: Mapping[str, Any] | None = None) -> Config:
    """Build the config of a named profile with overrides on top."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; one of {sorted(PROFILES)}")
    merged = {**PROFILES[profile], **(overrides or {})}
    return apply(Config(), merged)
