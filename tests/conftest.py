"""Fixtures: a real mock API server per test (or module), on a free port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mock_api.testing import MockServer


@pytest.fixture
def mock_api() -> Iterator[Callable[..., MockServer]]:
    """Factory: ``mock_api(profile, **knobs)`` starts a server, stopped after the test."""
    servers: list[MockServer] = []

    def start(profile: str = "calm", **knobs: Any) -> MockServer:
        knobs.setdefault("seed", 1234)
        server = MockServer(profile=profile, **knobs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def calm_api() -> Iterator[MockServer]:
    """One calm server shared by a module's read-only tests (reset per test)."""
    with MockServer(profile="calm", seed=1) as server:
        yield server


@pytest.fixture
def calm(calm_api: MockServer) -> MockServer:
    calm_api.reset()
    return calm_api
