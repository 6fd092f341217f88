"""``tap-mixoads --discover`` and ``--about``: what Meltano reads from the tap."""

from __future__ import annotations

import json
import subprocess
import sys

from singer_sdk.singerlib import Catalog

from tests.helpers import REPO_ROOT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tap_mixoads", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )


def test_discover_prints_a_valid_catalog_without_config_or_network():
    proc = _run("--discover")
    assert proc.returncode == 0, proc.stderr
    catalog = Catalog.from_dict(json.loads(proc.stdout))
    stream = catalog.get_stream("campaigns")
    assert stream is not None
    # Campaign ids are unique only within an account.
    assert stream.key_properties == ["client_id", "id"]
    props = stream.schema.properties
    assert props["id"].type == ["string"]
    assert props["budget"].type == ["number", "null"]
    assert props["impressions"].type == ["integer", "null"]
    assert props["created_at"].format == "date-time"
    assert props["synced_at"].format == "date-time"


def test_about_markdown_lists_every_setting():
    proc = _run("--about", "--format=markdown")
    assert proc.returncode == 0
    for setting in (
        "api_url",
        "email",
        "password",
        "client_id",
        "page_size",
        "requests_per_minute",
        "request_timeout",
        "max_retries",
        "sync_enabled",
        "sync_concurrency",
    ):
        assert f"| {setting} |" in proc.stdout


def test_readme_settings_table_is_generated_from_about():
    proc = subprocess.run(
        [sys.executable, "-m", "devtools.readme", "--check"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
