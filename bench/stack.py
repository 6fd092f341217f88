"""Can blocking ``requests`` on at most 64 threads carry the fleet's sync calls?

Run as ``python -m bench.stack [--calls 2000]``. A script, not a test: about
a minute.

1,000 accounts at the vendor's limit (10 calls per 60 s each), 100 campaigns
each with one list call, is 101,000 calls in a 600 s floor: about 168 calls
per second, nearly all of them 2 s syncs, so about 336 calls must be in
flight at once. This sends ``--calls`` sync calls (2 s each, no rate limit)
to the mock, spread over many client ids, two ways, and prints the calls per
second each sustains and its peak threads:

- ``requests``: one ``Session`` per worker thread, 64 threads (#18's thread
  ceiling), the tap's current stack;
- ``aiohttp``: one event loop on one thread, at most 400 calls in flight.

A call in flight holds a thread for its 2 s with blocking I/O, so 64 threads
cannot exceed 32 calls/s however fast the machine is; the event loop is
bounded by CPU instead.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import requests

from mock_api.config import demo_email, demo_password
from mock_api.testing import MockServer

NEEDED_PER_S = 101_000 / 600
THREADS = 64
IN_FLIGHT = 400
SYNC_S = 2.0


def threads_now() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def token(url: str) -> str:
    # The mock's demo account, from the environment or .env.example.
    basic = base64.b64encode(f"{demo_email()}:{demo_password()}".encode()).decode()
    answer = requests.post(
        f"{url}/auth/token", headers={"Authorization": f"Basic {basic}"}, timeout=10
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def with_requests(url: str, bearer: str, calls: int) -> tuple[float, int]:
    local = threading.local()  # a bench, not the tap: a session per thread
    peak = 0

    def one(i: int) -> int:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        answer = session.post(
            f"{url}/api/campaigns/campaign_{i % 100 + 1}/sync",
            headers={"Authorization": f"Bearer {bearer}", "X-Client-ID": f"c{i}"},
            json={},
            timeout=30,
        )
        return answer.status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [pool.submit(one, i) for i in range(calls)]
        while not all(f.done() for f in futures):
            peak = max(peak, threads_now())
            time.sleep(0.05)
        statuses = [f.result() for f in futures]
    assert set(statuses) == {200}, set(statuses)
    return calls / (time.monotonic() - started), peak


def with_aiohttp(url: str, bearer: str, calls: int) -> tuple[float, int]:
    peak = 0

    async def run() -> float:
        nonlocal peak
        limit = asyncio.Semaphore(IN_FLIGHT)
        connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(i: int) -> int:
                async with (
                    limit,
                    session.post(
                        f"{url}/api/campaigns/campaign_{i % 100 + 1}/sync",
                        headers={
                            "Authorization": f"Bearer {bearer}",
                            "X-Client-ID": f"c{i}",
                        },
                        json={},
                        timeout=aiohttp.ClientTimeout(total=30),
                    ) as answer,
                ):
                    await answer.read()
                    return answer.status

            async def watch() -> None:
                nonlocal peak
                while True:
                    peak = max(peak, threads_now())
                    await asyncio.sleep(0.05)

            watcher = asyncio.create_task(watch())
            started = time.monotonic()
            statuses = await asyncio.gather(*(one(i) for i in range(calls)))
            elapsed = time.monotonic() - started
            watcher.cancel()
        assert set(statuses) == {200}, set(statuses)
        return elapsed

    return calls / asyncio.run(run()), peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    calls = parser.parse_args().calls
    with MockServer(
        profile="calm", sync_delay=SYNC_S, campaigns=100, rate_limit=0, seed=3
    ) as server:
        bearer = token(server.url)
        rows = [
            ("requests, 64 threads", *with_requests(server.url, bearer, calls)),
            ("aiohttp, 1 loop", *with_aiohttp(server.url, bearer, calls)),
        ]
    print(f"{calls} sync calls of {SYNC_S:g} s; the fleet needs {NEEDED_PER_S:.0f}/s")
    print()
    print("| stack | calls/s | share of the fleet's need | peak threads |")
    print("| --- | ---: | ---: | ---: |")
    for name, rate, peak in rows:
        print(f"| {name} | {rate:.1f} | {rate / NEEDED_PER_S:.2f} | {peak} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
