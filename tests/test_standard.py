"""The SDK's standard tap tests, run against the real mock server.

``get_tap_test_class`` builds its test class at import time, before any
fixture runs, so it gets a config dict that a module-scoped fixture fills in
with the mock server's URL before the first test uses it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from mock_api.testing import MockServer
from tap_mixoads.tap import TapMixoAds
from tests.helpers import tap_config

# One pytest-xdist worker runs the whole module: the SDK's attribute tests
# read the records of the class's one sync, and the guard below reads the
# module's server.
pytestmark = pytest.mark.xdist_group("test_standard")

CONFIG: dict = tap_config("http://127.0.0.1:9", sync_concurrency=4)


@pytest.fixture(scope="module", autouse=True)
def _standard_mock() -> Iterator[MockServer]:
    with MockServer(profile="calm", seed=5, sync_delay=0.0) as server:
        CONFIG["api_url"] = server.url
        yield server


# No record limit: a capped run is a connection test, which never syncs, and
# then sync_events would have nothing to show. 100 campaigns are quick.
TestTapMixoAds = get_tap_test_class(
    TapMixoAds, config=CONFIG, suite_config=SuiteConfig(max_records_limit=None)
)


def test_standard_tests_ran_against_the_mock(_standard_mock):
    # Guard: the SDK suite above really talked to the server.
    requests_seen = _standard_mock.stats()["requests"]
    assert requests_seen.get("GET /api/campaigns", 0) >= 1
