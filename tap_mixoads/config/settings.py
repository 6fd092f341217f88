"""The settings, parsed once into one typed, frozen object.

Built from the checked config by the tap, once, and handed to the code that
needs it; nobody else reads the raw mapping. A setting left unset (or set to
null, as Meltano may pass it) takes the default its schema declares: the
defaults live in ``config_jsonschema`` only, never written a second time.
What settings mean together (the deadline derived from the timeout, the
accounts) is said here too, so the code that uses them reads one answer.
"""

from __future__ import annotations

import dataclasses
import typing as t

from tap_mixoads.config.accounts import (
    Account,
    accounts_from_config,
    empty_shard_note,
)

if t.TYPE_CHECKING:
    from collections.abc import Mapping

#: ``request_deadline`` when unset: this many times ``request_timeout``.
DEADLINE_TIMEOUTS = 3


def _readable(given: t.Any, spec: Mapping[str, t.Any]) -> bool:
    """Whether ``given`` reads as the type (and is a value) its schema declares."""
    if "enum" in spec and given not in spec["enum"]:
        return False
    kinds = spec.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    try:
        if "integer" in kinds:
            int(given)
        elif "number" in kinds:
            float(given)
    except (TypeError, ValueError):
        return False
    return "array" not in kinds or isinstance(given, list)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Every setting the run uses, typed (see ``config_jsonschema`` for each)."""

    api_url: str
    page_size: int
    shared_budget_url: str | None
    max_rate_limit_wait: float
    request_timeout: float
    #: Seconds one attempt may take, body included.
    request_deadline: float
    max_response_bytes: int
    max_retries: int
    sync_mode: str
    #: None: the default fields (``sync.change.DEFAULT_CHANGE_FIELDS``).
    sync_change_fields: tuple[str, ...] | None
    sync_concurrency: int
    sync_give_up_after_runs: int
    sync_breaker_threshold: int
    sync_retry_dead: bool
    schema_only: bool
    metrics_log_level: str
    #: Whether the ``accounts`` setting is used (else the top-level account).
    several_accounts: bool
    #: The run's accounts (its shard's, when ``shard`` is set).
    accounts: tuple[Account, ...]
    #: The warning for a shard that holds no account, else None.
    shard_note: str | None

    @property
    def url_base(self) -> str:
        """``api_url`` without a trailing slash (paths are appended to it)."""
        return self.api_url.rstrip("/")

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, t.Any],
        schema: Mapping[str, t.Any],
        *,
        lenient: bool = False,
    ) -> Settings:
        """The settings of a config that passed the checks.

        Args:
            config: the checked config.
            schema: ``config_jsonschema`` (its defaults fill unset settings).
            lenient: for a config that was not checked (``--discover`` with
                ``validate_config`` off, as the SDK allows): a value that
                cannot be read takes its default instead of raising. A
                checked config never needs it.

        Raises:
            ValueError: a value cannot be read (only when not ``lenient``).
        """
        properties = schema.get("properties", {})

        def default(name: str) -> t.Any:
            return properties.get(name, {}).get("default")

        def value(name: str) -> t.Any:
            given = config.get(name)
            if given is None:
                return default(name)
            if lenient and not _readable(given, properties.get(name, {})):
                return default(name)
            return given

        entries = {**config, "accounts": value("accounts")}
        try:
            accounts = tuple(accounts_from_config(entries))
            shard_note = empty_shard_note(entries)
        except (AttributeError, TypeError, ValueError):
            if not lenient:
                raise
            accounts, shard_note = (), None
        timeout = float(value("request_timeout"))
        deadline = value("request_deadline")
        fields = value("sync_change_fields")
        return cls(
            api_url=str(value("api_url")),
            page_size=int(value("page_size")),
            shared_budget_url=value("shared_budget_url"),
            max_rate_limit_wait=float(value("max_rate_limit_wait")),
            request_timeout=timeout,
            request_deadline=(
                float(deadline) if deadline is not None else DEADLINE_TIMEOUTS * timeout
            ),
            max_response_bytes=int(value("max_response_bytes")),
            max_retries=int(value("max_retries")),
            sync_mode=str(value("sync_mode")),
            sync_change_fields=tuple(fields) if fields is not None else None,
            sync_concurrency=int(value("sync_concurrency")),
            sync_give_up_after_runs=int(value("sync_give_up_after_runs")),
            sync_breaker_threshold=int(value("sync_breaker_threshold")),
            sync_retry_dead=bool(value("sync_retry_dead")),
            schema_only=bool(value("schema_only")),
            metrics_log_level=str(value("metrics_log_level")),
            several_accounts=bool(entries["accounts"]),
            accounts=accounts,
            shard_note=shard_note,
        )
