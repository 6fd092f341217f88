"""Test harness: run the mock as a real subprocess on a free port.

A subprocess (not an in-process app) gives tests real sockets, real timeouts
and a server whose event loop is never blocked by the code under test. It
runs in its own process group so that stopping it never touches the caller.
"""

from __future__ import annotations

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

    def start(self) -> MockServer:
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

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
