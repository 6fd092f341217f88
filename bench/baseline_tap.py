"""The baseline for bench.throughput: a minimal singer-sdk tap, SDK defaults.

What a developer would write in a dozen lines with the SDK and nothing else:
a RESTStream with a JSONPath, a page-number paginator, a bearer token fetched
once. Type conformance, the message writer and JSON parsing are the SDK's.
"""

from __future__ import annotations

import requests
from singer_sdk import RESTStream, Tap
from singer_sdk import typing as th
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.pagination import BasePageNumberPaginator


class HasMorePaginator(BasePageNumberPaginator):
    def has_more(self, response):
        return response.json()["pagination"]["has_more"]


class Campaigns(RESTStream):
    name, path, primary_keys, records_jsonpath = (
        "campaigns",
        "/api/campaigns",
        ("id",),
        "$.data[*]",
    )
    schema = th.PropertiesList(
        th.Property("id", th.StringType),
        th.Property("name", th.StringType),
        th.Property("status", th.StringType),
        th.Property("budget", th.NumberType),
        th.Property("impressions", th.IntegerType),
        th.Property("clicks", th.IntegerType),
        th.Property("conversions", th.IntegerType),
        th.Property("created_at", th.DateTimeType),
    ).to_dict()

    @property
    def url_base(self):
        return self.config["api_url"]

    @property
    def authenticator(self):
        if not hasattr(self._tap, "_token"):
            auth = (self.config["email"], self.config["password"])
            self._tap._token = requests.post(
                self.url_base + "/auth/token", auth=auth, timeout=10
            ).json()["access_token"]
        return BearerTokenAuthenticator(token=self._tap._token)

    def get_new_paginator(self):
        return HasMorePaginator(1)

    def get_url_params(self, context, next_page_token):
        return {"page": next_page_token or 1, "limit": self.config["page_size"]}


class BaselineTap(Tap):
    name = "tap-baseline"
    config_jsonschema = th.PropertiesList(
        th.Property("api_url", th.StringType),
        th.Property("email", th.StringType),
        th.Property("password", th.StringType, secret=True),
        th.Property("page_size", th.IntegerType),
    ).to_dict()

    def discover_streams(self):
        return [Campaigns(self)]


if __name__ == "__main__":
    BaselineTap.cli()
