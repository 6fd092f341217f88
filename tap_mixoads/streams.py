"""Stream definitions: one class per endpoint, schema inline."""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_mixoads.client import MixoAdsStream, decode_json, forget_json
from tap_mixoads.pagination import CampaignPaginator
from tap_mixoads.records import CampaignNormalizer
from tap_mixoads.sync_hook import NOT_SYNCED, CampaignSyncer

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import requests
    from singer_sdk.helpers.types import Context


class CampaignsStream(MixoAdsStream):
    """All campaigns of the account, each synced on the platform after extraction.

    Full-table: the API offers no modified-since filter, and metrics change
    on every call, so every run reads every campaign and the loader upserts
    by ``id``.
    """

    name = "campaigns"
    path = "/api/campaigns"
    primary_keys = ("id",)
    replication_key = None
    # records.CampaignNormalizer already returns exactly the schema's types,
    # so the SDK's generic per-record conformance would only cost time.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    schema = th.PropertiesList(
        th.Property("id", th.StringType, required=True, description="Campaign id"),
        th.Property("name", th.StringType),
        th.Property("status", th.StringType, description="active, paused, ..."),
        th.Property("budget", th.NumberType),
        th.Property("impressions", th.IntegerType),
        th.Property("clicks", th.IntegerType),
        th.Property("conversions", th.IntegerType),
        th.Property("created_at", th.DateTimeType),
        th.Property(
            "sync_status",
            th.StringType,
            description="success or failed; null when the sync hook is off",
        ),
        th.Property(
            "synced_at",
            th.DateTimeType,
            description="The platform's timestamp of the successful sync",
        ),
        th.Property(
            "sync_http_status",
            th.IntegerType,
            description="HTTP status of the last sync attempt (null: no answer)",
        ),
        th.Property(
            "sync_error",
            th.StringType,
            description="Why the sync failed, after all retries",
        ),
        th.Property("sync_attempts", th.IntegerType),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.normalizer = CampaignNormalizer()
        self.syncer: CampaignSyncer | None = None
        self._paginator: CampaignPaginator | None = None
        self._previous_page_ids: set[str] = set()
        self._records_so_far = 0

    @property
    def page_size(self) -> int:
        """Campaigns per list call, from ``page_size``."""
        return int(self.config["page_size"])

    def get_new_paginator(self) -> CampaignPaginator:
        """A fresh paginator; kept so parse_response can read ``total``."""
        self._paginator = CampaignPaginator(page_size=self.page_size)
        self._previous_page_ids = set()
        self._records_so_far = 0
        return self._paginator

    def get_url_params(
        self, context: Context | None, next_page_token: int | None
    ) -> dict[str, t.Any]:
        """``page`` and ``limit`` query parameters."""
        return {"page": next_page_token or 1, "limit": self.page_size}

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        """Yield the page's campaigns, normalized, each once per run.

        A page that starts at or past the largest ``total`` seen lists
        campaigns that do not exist (the API pads pages past the end) and is
        skipped whole. A page that starts before it is emitted whole, even if
        a drifting ``total`` claims it runs past the end: the server cuts the
        real last page itself, and cutting here would drop real campaigns.
        A campaign already seen on the previous page (the list shifted while
        we paged) is skipped. Only two pages of ids are remembered, so memory
        stays flat however many campaigns there are.
        """
        body = decode_json(response)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            return
        self.mark_extracted()
        paginator = self._paginator
        page = paginator.current_value if paginator else 1
        pagination = body.get("pagination") or {}
        reported_total = pagination.get("total")
        total = paginator.total if paginator and paginator.total else None
        if isinstance(reported_total, int) and not isinstance(reported_total, bool):
            total = max(total or 0, reported_total)
        echoed_limit = pagination.get("limit")
        limit = (
            echoed_limit
            if isinstance(echoed_limit, int) and echoed_limit > 0
            else self.page_size
        )
        first_position = (page - 1) * limit
        page_ids: set[str] = set()
        where = f"page {page}"
        if total is not None and first_position >= total and data:
            self.logger.warning(
                "Page %d starts past the reported total (%d): skipping its %d "
                "campaigns, which do not exist",
                page,
                total,
                len(data),
            )
            data = []
        for raw in data:
            record = self.normalizer.normalize(raw, where=where)
            if record is None:
                continue
            campaign_id = record["id"]
            if campaign_id in page_ids or campaign_id in self._previous_page_ids:
                continue
            page_ids.add(campaign_id)
            yield record
        self._previous_page_ids = page_ids
        self._records_so_far += len(page_ids)
        if paginator is not None:
            paginator.observe(body)
        forget_json(response)
        self.logger.info(
            "Page %d: %d campaigns (%d so far of %s)",
            page,
            len(page_ids),
            self._records_so_far,
            total if total is not None else "?",
        )

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Extract, then (unless disabled or a dry run) sync every campaign."""
        records = self.request_records(context)
        sync = bool(self.config["sync_enabled"]) and self.ABORT_AT_RECORD_COUNT is None
        if not sync:
            for record in records:
                record.update(NOT_SYNCED)
                yield record
        else:
            self.syncer = CampaignSyncer(
                url_base=self.url_base,
                headers=self.http_headers,
                send=self._send_with_policy,
                concurrency=int(self.config["sync_concurrency"]),
                logger=self.logger,
            )
            yield from self.syncer.sync_all(records)
            summary = self.syncer.summary()
            if self.syncer.failures:
                self.logger.warning("%s", summary)
            else:
                self.logger.info("%s", summary)
        self._log_data_repairs()

    def _send_with_policy(
        self,
        request: requests.PreparedRequest,
        on_attempt: Callable[[], None],
    ) -> requests.Response:
        """Send ``request`` with the stream's retry policy, counting attempts."""

        def attempt(
            prepared: requests.PreparedRequest, context: Context | None
        ) -> requests.Response:
            on_attempt()
            return self._request(prepared, context)

        return self.request_decorator(attempt)(request, None)

    def _log_data_repairs(self) -> None:
        """Say once per run what the data policy had to repair or reject."""
        normalizer = self.normalizer
        if normalizer.repairs:
            self.logger.warning(
                "Data repaired per the data policy: %s",
                ", ".join(f"{k}: {v}" for k, v in sorted(normalizer.repairs.items())),
            )
        if normalizer.unknown_fields:
            self.logger.info(
                "Ignored fields not in the schema: %s",
                ", ".join(sorted(normalizer.unknown_fields)),
            )
        if normalizer.rejected:
            self.logger.error(
                "Rejected %d items: %s",
                len(normalizer.rejected),
                "; ".join(normalizer.rejected[:20]),
            )
