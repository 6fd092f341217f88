"""Test harness: run the mock on a free port, as a subprocess or in-process.

:class:`MockServer`, a subprocess, gives tests real sockets, real timeouts
and a server whose event loop is never blocked by the code under test. It
runs in its own process group so that stopping it never touches the caller.

:class:`InProcessMockServer` serves the same app on real sockets from an
event loop in a background thread of the caller: no interpreter to start
(~0.2 s of CPU per server), for tests whose code under test is another
process anyway (the tap, Meltano) and that never signal the server's process
or read its output.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import requests
from aiohttp import web
from typing_extensions import Self

from mock_api.config import build
from mock_api.server import start_runner

STARTUP_TIMEOUT = 15.0
CONTROL_TIMEOUT = 5.0
_LISTENING = re.compile(r"mock_api listening on (http://\S+) \(profile (\S+)\)")
_REPO_ROOT = Path(__file__).resolve().parent.parent


def knob_text(value: Any) -> str:
    """Render a knob value the way ``--set KNOB=VALUE`` parses it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(item) for item in value)
    return str(value)


class MockServer:
    """A ``python -m mock_api`` subprocess, started on a free port.

    Example::

        with MockServer(profile="fast", rate_limit=5) as server:
            requests.get(server.url + "/health")
            assert server.stats()["requests"]
    """

    def __init__(self, profile: str = "fast", **knobs: Any) -> None:
        self.profile = profile
        self.knobs = knobs
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None
        self._stdout_lines: queue.Queue[str] = queue.Queue()
        self._stdout_seen: list[str] = []
        self._pump: threading.Thread | None = None

    def command(self) -> list[str]:
        """The command line that starts the server."""
        cmd = [sys.executable, "-m", "mock_api", "--port", "0"]
        cmd += ["--profile", self.profile]
        for name, value in self.knobs.items():
            cmd += ["--set", f"{name}={knob_text(value)}"]
        return cmd

    def start(self) -> Self:
        """Launch the server and wait for its listening line."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOCK_API_")}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        # Kept open after stop() so tests can still read the logs.
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self._proc = subprocess.Popen(
            self.command(),
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
            cwd=_REPO_ROOT,
            start_new_session=True,
        )
        self._pump = threading.Thread(target=self._pump_stdout, daemon=True)
        self._pump.start()
        try:
            line = self._stdout_lines.get(timeout=STARTUP_TIMEOUT)
        except queue.Empty:
            line = ""
        match = _LISTENING.search(line)
        if match is None:
            self.stop()
            raise RuntimeError(
                f"mock_api did not start (first line {line!r}); stderr:\n{self.logs()}"
            )
        self.url = match.group(1)
        return self

    def _pump_stdout(self) -> None:
        proc = self._proc
        if proc is None or proc.stdout is None:
            return
        for line in proc.stdout:
            self._stdout_seen.append(line)
            self._stdout_lines.put(line)
        self._stdout_lines.put("")  # EOF: unblock a waiting start()

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = requests.request(
            method, self.url + path, timeout=CONTROL_TIMEOUT, **kwargs
        )
        resp.raise_for_status()
        return resp.json()

    def stats(self) -> dict[str, Any]:
        """What the server saw since start or the last reset."""
        result: dict[str, Any] = self._control("GET", "/_mock/stats")
        return result

    def client_stats(self, client: str | None = None) -> dict[str, Any]:
        """What each X-Client-ID did (or one client's counters, if named).

        Per client: ``requests`` (/api calls), ``accepted`` (not rate
        limited), ``rate_limited`` (429s), ``max_in_window`` (most accepted
        calls within any ``rate_window``), ``sync_calls`` (campaign id ->
        calls) and ``accounts`` (account number -> authenticated calls).
        An unknown client gives all-zero counters.
        """
        clients: dict[str, Any] = self.stats()["clients"]
        if client is None:
            return clients
        empty = {
            "requests": 0,
            "accepted": 0,
            "rate_limited": 0,
            "max_in_window": 0,
            "sync_calls": {},
            "accounts": {},
        }
        result: dict[str, Any] = clients.get(client, empty)
        return result

    def forget_tokens(self) -> int:
        """Make the server forget every token issued so far (401 Invalid token)."""
        result: dict[str, int] = self._control("POST", "/_mock/forget_tokens")
        return result["forgotten"]

    def tokens(self) -> list[str]:
        """Every token issued since start or the last reset."""
        result: list[str] = self._control("GET", "/_mock/tokens")
        return result

    def reset(self) -> None:
        """Clear stats, rate windows and tokens."""
        self._control("POST", "/_mock/reset")

    def config(self) -> dict[str, Any]:
        """The knobs in force."""
        result: dict[str, Any] = self._control("GET", "/_mock/config")
        return result

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Change knobs at runtime; returns the new config."""
        body = {
            k: list(v) if isinstance(v, tuple | set | frozenset) else v
            for k, v in knobs.items()
        }
        result: dict[str, Any] = self._control("POST", "/_mock/config", json=body)
        return result

    def logs(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        err = ""
        if self._stderr is not None and not self._stderr.closed:
            self._stderr.flush()
            self._stderr.seek(0)
            err = self._stderr.read()
        return "".join(self._stdout_seen) + err

    def stop(self) -> None:
        """Terminate the process group; kill it if it does not exit."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        if self._pump is not None:
            self._pump.join(timeout=5)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class InProcessMockServer(MockServer):
    """The mock's app served from a background thread of this process.

    The same config as ``python -m mock_api --port 0 --profile P --set K=V``
    (knobs parsed from the same text), the same runner settings, real
    sockets on 127.0.0.1; the server's state is reached over HTTP, as with
    the subprocess. Its event loop runs in its own thread, so a caller
    blocked on a subprocess (the tap) never blocks it.
    """

    def __init__(self, profile: str = "fast", **knobs: Any) -> None:
        super().__init__(profile, **knobs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    def start(self) -> Self:
        """Build the config, start the loop thread and wait until listening."""
        cfg = build(
            self.profile, {name: knob_text(value) for name, value in self.knobs.items()}
        )
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name=f"mock_api-{self.profile}", daemon=True
        )
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            start_runner(cfg, "127.0.0.1", 0), loop
        )
        try:
            self._runner, port = future.result(timeout=STARTUP_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        self.url = f"http://127.0.0.1:{port}"
        self._stdout_seen.append(
            f"mock_api listening on {self.url} (profile {self.profile})\n"
        )
        return self

    def stop(self) -> None:
        """Close the sockets, cancel open handlers, end the loop thread."""
        loop, thread, runner = self._loop, self._thread, self._runner
        self._runner = None
        if loop is None or thread is None:
            return
        if thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(_shutdown(runner), loop)
            future.result(timeout=STARTUP_TIMEOUT)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=STARTUP_TIMEOUT)
        if not thread.is_alive() and not loop.is_closed():
            loop.close()


async def _shutdown(runner: web.AppRunner | None) -> None:
    """Stop serving, then cancel whatever the loop still runs."""
    if runner is not None:
        await runner.cleanup()
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
