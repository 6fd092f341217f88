"""Settings: parsed once, typed, frozen; defaults come from the schema only."""

from __future__ import annotations

import dataclasses

import pytest

from tap_mixoads.config.settings import DEADLINE_TIMEOUTS, Settings
from tap_mixoads.tap import TapMixoAds

SCHEMA = TapMixoAds.config_jsonschema
BASE = {"api_url": "http://api.test/", "email": "a@b.c", "password": "pw"}


def test_unset_settings_take_the_schema_default():
    settings = Settings.from_config(BASE, SCHEMA)
    properties = SCHEMA["properties"]
    for name in ("page_size", "max_retries", "sync_concurrency", "sync_mode"):
        assert getattr(settings, name) == properties[name]["default"]
    assert settings.max_rate_limit_wait == float(
        properties["max_rate_limit_wait"]["default"]
    )


def test_null_is_unset_and_a_changed_schema_default_is_followed():
    schema = {
        **SCHEMA,
        "properties": {
            **SCHEMA["properties"],
            "page_size": {**SCHEMA["properties"]["page_size"], "default": 42},
        },
    }
    assert Settings.from_config({**BASE, "page_size": None}, schema).page_size == 42


def test_the_deadline_is_derived_from_the_timeout_unless_set():
    settings = Settings.from_config({**BASE, "request_timeout": 2}, SCHEMA)
    assert settings.request_deadline == DEADLINE_TIMEOUTS * 2
    set_ = Settings.from_config({**BASE, "request_deadline": 7}, SCHEMA)
    assert set_.request_deadline == 7.0


def test_values_are_typed_and_the_object_is_frozen():
    settings = Settings.from_config(
        {**BASE, "sync_change_fields": ["status"], "sync_retry_dead": 1}, SCHEMA
    )
    assert settings.sync_change_fields == ("status",)
    assert settings.sync_retry_dead is True
    assert settings.url_base == "http://api.test"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.page_size = 1  # type: ignore[misc]


def test_the_accounts_and_the_shard_note_are_read_once():
    accounts = [{"client_id": f"c{i}", "email": "e", "password": "p"} for i in range(4)]
    settings = Settings.from_config({**BASE, "accounts": accounts}, SCHEMA)
    assert [a.client_id for a in settings.accounts] == ["c0", "c1", "c2", "c3"]
    assert settings.several_accounts and settings.shard_note is None
    assert not Settings.from_config(BASE, SCHEMA).several_accounts


def test_an_unchecked_config_reads_leniently_a_checked_one_raises():
    bad = {**BASE, "request_timeout": "abc", "accounts": "x"}
    lenient = Settings.from_config(bad, SCHEMA, lenient=True)
    assert lenient.request_timeout == SCHEMA["properties"]["request_timeout"]["default"]
    with pytest.raises(ValueError, match="abc"):
        Settings.from_config({**BASE, "request_timeout": "abc"}, SCHEMA)


def test_an_unchecked_value_outside_its_choices_takes_the_default():
    bad = {**BASE, "metrics_log_level": "VERBOSE"}
    assert Settings.from_config(bad, SCHEMA, lenient=True).metrics_log_level == "INFO"
