"""Everything one running mock server holds between requests."""

from __future__ import annotations

import random
import time

from aiohttp import web

from mock_api.config import Config
from mock_api.ratelimit import SlidingWindowLimiter
from mock_api.stats import Stats
from mock_api.tokens import TokenStore


class ServerState:
    """Config, randomness, limiter, tokens and stats of one server.

    Fault draws and metric values use separate generators so that a seeded
    run injects the same faults whatever page sizes the client asks for.
    """

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.started = time.monotonic()
        self.started_wall = time.time()
        self.rng = random.Random()
        self.data_rng = random.Random()
        self.reseed()
        self.limiter = SlidingWindowLimiter()
        self.tokens = TokenStore()
        self.stats = Stats(started=self.started)
        # Faulty pages served so far, for page_fault_times (healing faults).
        self.page_fault_hits = 0
        self.redirects_served = 0

    def reseed(self) -> None:
        """Restart both generators from the configured seed (if any)."""
        seed = self.cfg.seed
        self.rng.seed(seed)
        self.data_rng.seed(None if seed is None else f"{seed}-data")

    def reconfigure(self, cfg: Config) -> None:
        """Switch to a new config; a changed seed restarts the generators.

        Changing any ``page_fault*`` knob starts a new fault, so its healing
        count starts again too.
        """
        old = self.cfg
        old_seed = old.seed
        self.cfg = cfg
        page_knobs = ("page_fault", "page_fault_page", "page_fault_times")
        if any(getattr(old, k) != getattr(cfg, k) for k in page_knobs):
            self.page_fault_hits = 0
        if cfg.seed != old_seed:
            self.reseed()

    def reset(self) -> None:
        """Clear stats, rate windows and tokens, as between two tests."""
        in_flight = self.stats.concurrent_syncs
        self.stats = Stats(started=self.started, concurrent_syncs=in_flight)
        self.limiter.reset()
        self.tokens.reset()
        self.page_fault_hits = 0
        self.redirects_served = 0
        if self.cfg.seed is not None:
            self.reseed()


STATE: web.AppKey[ServerState] = web.AppKey("mock_api_state", ServerState)
