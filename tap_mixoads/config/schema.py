"""The settings the tap accepts: the one source of truth, defaults included.

``TapMixoAds.config_jsonschema`` is this schema. The settings checks
(:mod:`tap_mixoads.config.checks`), the typed settings
(:mod:`tap_mixoads.config.settings`), ``--about``, ``meltano.yml``,
``.env.example`` and the README's settings table all derive from it (the
last three are checked by ``make lint``); a default is written here only.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

#: Levels ``metrics_log_level`` takes (the SDK logs METRIC lines at INFO).
METRICS_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

CONFIG_SCHEMA: dict[str, t.Any] = th.PropertiesList(
    th.Property(
        "api_url",
        th.URIType,
        default="http://localhost:3001",
        title="API URL",
        description="Base URL of the Ad Platform API",
    ),
    th.Property(
        "email",
        th.StringType(min_length=1),
        title="Email",
        description="Account email (needed unless every accounts entry has one)",
    ),
    th.Property(
        "password",
        th.StringType(min_length=1),
        secret=True,
        title="Password",
        description=(
            "Account password (traded for a bearer token; never logged; "
            "needed unless every accounts entry has one)"
        ),
    ),
    th.Property(
        "client_id",
        th.StringType(min_length=1),
        default="tap-mixoads",
        title="Client ID",
        description=(
            "Sent as X-Client-ID; the vendor counts the rate limit per client id"
        ),
    ),
    th.Property(
        "accounts",
        th.ArrayType(
            th.ObjectType(
                th.Property(
                    "client_id",
                    th.StringType(min_length=1),
                    required=True,
                    description="This account's X-Client-ID (unique)",
                ),
                th.Property(
                    "email",
                    th.StringType(min_length=1),
                    description="Default: the top-level email",
                ),
                th.Property(
                    "password",
                    th.StringType(min_length=1),
                    secret=True,
                    description="Default: the top-level password",
                ),
                th.Property(
                    "requests_per_minute",
                    th.IntegerType(minimum=1),
                    description="Default: the top-level requests_per_minute",
                ),
                additional_properties=False,
            )
        ),
        title="Accounts",
        description=(
            "Several accounts in one run: a JSON array of {client_id, email, "
            "password, requests_per_minute}; an entry without email or "
            "password uses the top-level one. Unset: the top-level settings "
            "are the one account"
        ),
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1),
        default=100,
        title="Page size",
        description="Campaigns per list call",
    ),
    th.Property(
        "requests_per_minute",
        th.IntegerType(minimum=1),
        default=10,
        title="Requests per minute",
        description=("Client-side budget for all /api/* calls together, paced evenly"),
    ),
    th.Property(
        "shared_budget_url",
        th.StringType(min_length=1),
        secret=True,
        title="Shared budget URL",
        description=(
            "Where processes sharing a client id keep one rate budget: "
            "postgresql://user:password@host/db or sqlite:///path/to/file.db; "
            "unset: each process has its own budget"
        ),
    ),
    th.Property(
        "max_rate_limit_wait",
        th.NumberType(exclusive_minimum=0),
        default=300,
        title="Max rate-limit wait",
        description=(
            "Longest wait in seconds for a 429 or the shared budget before "
            "the call fails"
        ),
    ),
    th.Property(
        "request_timeout",
        th.NumberType(exclusive_minimum=0),
        default=10,
        title="Request timeout",
        description="Connect+read timeout of every call, in seconds",
    ),
    th.Property(
        "request_deadline",
        th.NumberType(exclusive_minimum=0),
        title="Request deadline",
        description=(
            "Total seconds one attempt may take, body included; "
            "unset: 3 x request_timeout"
        ),
    ),
    th.Property(
        "max_response_bytes",
        th.IntegerType(minimum=1),
        default=8388608,
        title="Max response bytes",
        description=(
            "Largest body one answer may have, counted decoded (a "
            "gzip-compressed body is measured as it expands); past it the "
            "attempt fails and is retried. 8 MiB by default: a page of "
            "10,000 campaigns is about 2 MB"
        ),
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=1),
        default=8,
        title="Max retries",
        description="Attempts per call before giving up",
    ),
    th.Property(
        "sync_enabled",
        th.BooleanType,
        title="Sync enabled",
        description=(
            "Deprecated: use sync_mode. true changes nothing; false is "
            "refused (set sync_mode none for a read-only run)"
        ),
    ),
    th.Property(
        "sync_mode",
        th.StringType(allowed_values=["all", "failed", "changed", "none"]),
        default="all",
        title="Sync mode",
        description=(
            "Which campaigns get a sync call: all, failed (those whose last "
            "sync failed), changed (those whose settings changed since their "
            "last successful sync, never synced, or last failed) or none "
            "(read-only pulls)"
        ),
    ),
    th.Property(
        "sync_change_fields",
        th.ArrayType(th.StringType(min_length=1)),
        title="Sync change fields",
        description=(
            "With sync_mode changed: the campaign settings whose change "
            "makes a campaign sync again (default: name, status, budget; "
            "metrics and created_at never count)"
        ),
    ),
    th.Property(
        "sync_concurrency",
        th.IntegerType(minimum=1),
        default=4,
        title="Sync concurrency",
        description="Most sync calls in flight at once",
    ),
    th.Property(
        "sync_give_up_after_runs",
        th.IntegerType(minimum=1),
        default=5,
        title="Sync give up after runs",
        description=(
            "Runs in a row a campaign's sync may fail before the tap stops retrying it"
        ),
    ),
    th.Property(
        "sync_breaker_threshold",
        th.IntegerType(minimum=1),
        default=5,
        title="Sync breaker threshold",
        description=(
            "Sync failures in a row that open the breaker and pause sync "
            "calls for the rest of the run"
        ),
    ),
    th.Property(
        "sync_retry_dead",
        th.BooleanType,
        default=False,
        title="Sync retry dead",
        description=(
            "With sync_mode failed: also retry campaigns given up on after "
            "sync_give_up_after_runs (the explicit reset of 'dead')"
        ),
    ),
    th.Property(
        "schema_only",
        th.BooleanType,
        default=False,
        title="Schema only",
        description=(
            "Write each selected stream's SCHEMA message and stop: no API "
            "call, no record, the state passed on unchanged. Run it once "
            "before shards load in parallel, so that one loader creates "
            "(or widens) the tables"
        ),
    ),
    th.Property(
        "shard",
        th.StringType,
        title="Shard",
        description=(
            "K/N (1 <= K <= N): run only the accounts whose client id falls "
            "in shard K of N (SHA-256 of the client id mod N, the same on "
            "every machine); every shard gets the same accounts. Unset: "
            "every account"
        ),
    ),
    th.Property(
        "metrics_log_level",
        th.StringType(allowed_values=list(METRICS_LOG_LEVELS)),
        default="INFO",
        title="Metrics log level",
        description=(
            "Level of the SDK's METRIC lines (http_request_duration, "
            "record_count, ...): INFO logs them as the SDK does, WARNING "
            "or ERROR keeps them out of a log read by people"
        ),
    ),
).to_dict()
