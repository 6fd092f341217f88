"""Shared helpers: run the real tap CLI against a real mock server."""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mock_api.accounts import account_client_id, account_credentials

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_EMAIL = "admin@mixoads.com"
DEMO_PASSWORD = "SuperSecret123!"


@functools.cache
def meltano_isolation() -> list[str]:
    """Global ``meltano`` options that keep the user's own ``.env`` out.

    Meltano reads ``.env`` from the project root, so a user's copy (say with
    ``TAP_MIXOADS_SYNC_MODE=none``) would change what every test sees;
    an empty env file instead makes each run depend on the test alone.
    """
    folder = Path(tempfile.mkdtemp(prefix="tap-mixoads-tests-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    empty = folder / "empty.env"
    empty.write_text("")
    return ["--env-file", str(empty)]


def mock_accounts(*ks: int) -> list[dict[str, Any]]:
    """``accounts`` entries for the mock's accounts ``ks``, one client id each."""
    entries = []
    for k in ks:
        email, password = account_credentials(k)
        entries.append(
            {"client_id": account_client_id(k), "email": email, "password": password}
        )
    return entries


def tap_config(url: str, **overrides: Any) -> dict[str, Any]:
    """A config for the mock at ``url``; fast timeouts unless overridden."""
    config: dict[str, Any] = {
        "api_url": url,
        "email": DEMO_EMAIL,
        "password": DEMO_PASSWORD,
        "request_timeout": 1.5,
        "requests_per_minute": 6000,
    }
    config.update(overrides)
    return config


@dataclass
class TapRun:
    """What one tap process did."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def records(self) -> list[dict[str, Any]]:
        """The campaigns stream's records."""
        return self.stream_records("campaigns")

    def stream_records(self, stream: str) -> list[dict[str, Any]]:
        return [
            m["record"]
            for m in self.messages
            if m.get("type") == "RECORD" and m.get("stream") == stream
        ]

    @property
    def ids(self) -> list[str]:
        return [r["id"] for r in self.records]

    def log_lines(self) -> list[str]:
        return self.stderr.splitlines()


class TapProcess:
    """One tap process forked by the fork server (``tests/tapfork.py``).

    What the tests use of ``subprocess.Popen``: ``pid``, ``returncode``,
    ``poll()``, ``wait(timeout)`` and ``kill()``. The process is the fork
    server's grandchild, not ours: its status comes over the socket.
    """

    def __init__(self, conn: socket.socket, args: list[str]) -> None:
        self._conn = conn
        self._reader = conn.makefile("rb")
        self.args = args
        self.returncode: int | None = None
        line = self._reader.readline().decode()
        if not line.startswith("pid "):
            raise RuntimeError(f"tap fork server: no run started ({line!r})")
        self.pid = int(line.split()[1])

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._conn.settimeout(timeout)
            try:
                line = self._reader.readline().decode()
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.args, timeout or 0) from None
            if not line.startswith("status "):
                raise RuntimeError(f"tap fork server: no status ({line!r})")
            self.returncode = os.waitstatus_to_exitcode(int(line.split()[1]))
            self._reader.close()
            self._conn.close()
        return self.returncode

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.wait(timeout=0)
            except subprocess.TimeoutExpired:
                return None
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


class TapForkServer:
    """Starts tap processes without paying the interpreter's start-up each time.

    One server per program and pytest process, started on first use; see
    tests/tapfork.py for what a forked run shares with ``python -m
    tap_mixoads`` (everything a test of the tap's output, exit status or API
    calls can see). Tests of signals, interrupts and process groups start
    the real command instead.
    """

    def __init__(
        self,
        program: list[str],
        command: list[str],
        *,
        python: str = sys.executable,
        path: Path | None = None,
    ) -> None:
        self.command = command
        folder = Path(tempfile.mkdtemp(prefix="tap-mixoads-fork-"))
        self.path = str(path or folder / "socket")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MIXOADS_")}
        self._proc = subprocess.Popen(
            [python, "-m", "tests.tapfork", self.path, *program],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO_ROOT,
            env=env,
        )
        assert self._proc.stdout is not None
        ready = self._proc.stdout.readline()
        if ready != b"ready\n":
            self.close()
            raise RuntimeError(f"tap fork server did not start ({ready!r})")
        atexit.register(self.close)
        atexit.register(shutil.rmtree, folder, ignore_errors=True)

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()  # the server's cue to go
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def start(
        self,
        args: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        stdin: int,
        stdout: int,
        stderr: int,
    ) -> TapProcess:
        """Fork ``<command> <args>`` with these fds as its stdio."""
        request = {"argv": [self.command[-1], *args], "env": env, "cwd": str(cwd)}
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(self.path)
            payload = json.dumps(request).encode() + b"\n"
            socket.send_fds(conn, [payload], [stdin, stdout, stderr])
            return TapProcess(conn, [*self.command, *args])
        except BaseException:
            conn.close()
            raise


_fork_servers: dict[str, TapForkServer] = {}
_fork_server_lock = threading.Lock()


def _fork_server(
    name: str, program: list[str], command: list[str], **kwargs: Any
) -> TapForkServer:
    with _fork_server_lock:
        if name not in _fork_servers:
            _fork_servers[name] = TapForkServer(program, command, **kwargs)
        return _fork_servers[name]


def tap_fork_server() -> TapForkServer:
    """This process's server of ``python -m tap_mixoads`` runs (started on use)."""
    return _fork_server(
        "tap",
        ["module", "tap_mixoads", "tap_mixoads.cli", "tap_mixoads.tap"],
        [sys.executable, "-m", "tap_mixoads"],
    )


def target_fork_server() -> TapForkServer:
    """This process's server of ``target-postgres`` runs (started on use)."""
    return _fork_server(
        "target",
        ["script", target_postgres_bin(), "target_postgres.target"],
        [target_postgres_bin()],
    )


#: Set in a run's environment: the plugins Meltano starts there are their
#: real executables, not forked runs (tests of signals to Meltano's group).
REAL_PLUGINS_ENV = "MIXOADS_TESTS_REAL_PLUGINS"
#: The plugins whose runs a private system dir forks: name -> modules preloaded.
FORKED_PLUGINS = {
    "tap-mixoads": ["tap_mixoads.cli", "tap_mixoads.tap"],
    "target-postgres": ["target_postgres.target"],
}
#: Plugins shadowed in this process's private system dir: name -> (venv, socket).
_shadowed: dict[str, tuple[Path, Path]] = {}


def _shim(path: Path, socket_path: str, real: str, **options: str) -> None:
    """Write the executable ``path`` that runs ``real`` through a fork server."""
    extra = "".join(f", {k}={v!r}" for k, v in options.items())
    partial = path.with_name(path.name + ".partial")
    partial.write_text(
        f"#!{sys.executable} -S\n"
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import forkclient\n"
        f"forkclient.main({socket_path!r}, {real!r}{extra})\n"
    )
    partial.chmod(0o755)
    partial.rename(path)


def shadow_plugin_venv(venv: Path, dest: Path) -> None:
    """Make ``dest`` a plugin venv for Meltano: ``venv``'s, its command forked.

    Everything in ``dest`` is a link into ``venv`` but the plugin's
    executable (``bin/<plugin name>``), which has a server running ``venv``'s
    own Python fork each run (see tests/forkclient.py): the same plugin code
    and dependencies, without the ~1 s of CPU its imports cost each fresh
    process. Plugins not in :data:`FORKED_PLUGINS` are linked whole.
    """
    name = venv.parent.name
    if name not in FORKED_PLUGINS:
        dest.symlink_to(venv)
        return
    dest.mkdir()
    for entry in venv.iterdir():
        if entry.name != "bin":
            (dest / entry.name).symlink_to(entry)
    (dest / "bin").mkdir()
    for entry in (venv / "bin").iterdir():
        if entry.name != name:
            (dest / "bin" / entry.name).symlink_to(entry)
    socket_path = dest.parent / "fork.sock"
    _shim(
        dest / "bin" / name,
        str(socket_path),
        str(venv / "bin" / name),
        real_if=REAL_PLUGINS_ENV,
    )
    _shadowed[name] = (venv, socket_path)


def _plugin_fork_servers() -> None:
    """Start the servers of this process's shadowed plugin venvs (once)."""
    for name, (venv, socket_path) in _shadowed.items():
        real = str(venv / "bin" / name)
        _fork_server(
            f"plugin {name}",
            ["script", real, *FORKED_PLUGINS[name]],
            [real],
            python=str(venv / "bin" / "python"),
            path=socket_path,
        )


def meltano_command() -> str:
    """A ``meltano`` executable whose runs this process's server forks.

    Each run is the real Meltano (``meltano.cli``'s entry point, with the
    run's own argv, environment, working directory and stdio; see
    tests/forkclient.py), without the ~1.2 s of CPU that importing Meltano
    costs every fresh ``meltano``. Tests of signals to Meltano's process
    group start :func:`real_meltano` instead.
    """
    _plugin_fork_servers()
    real = real_meltano()
    server = _fork_server("meltano", ["script", real, "meltano.cli"], [real])
    shim = Path(server.path).with_name("meltano")
    if not shim.exists():
        _shim(shim, server.path, real)
    return str(shim)


def real_meltano() -> str:
    """The ``meltano`` executable installed beside this Python."""
    return str(Path(sys.executable).parent / "meltano")


def close_tap_fork_server() -> None:
    """Stop this process's fork servers, if started, and wait for them.

    Called at the end of the session (tests/conftest.py): waited for, their
    runs' CPU time counts in this process's, as a child's would.
    """
    with _fork_server_lock:
        while _fork_servers:
            _fork_servers.popitem()[1].close()


def _decoded(raw: bytes) -> str:
    """Bytes as ``subprocess.run(text=True)`` gives them (universal newlines)."""
    return io.TextIOWrapper(io.BytesIO(raw)).read()


def run_tap(
    config: dict[str, Any],
    *args: str,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> TapRun:
    """Run ``python -m tap_mixoads --config <file> [args]`` and parse stdout.

    The process is forked by :func:`tap_fork_server` (no interpreter start-up).
    """
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(config, fh)
        path = fh.name
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MIXOADS_")}
    full_env.update(env or {})
    started = time.monotonic()
    try:
        with (
            open(os.devnull, "rb") as stdin,
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
        ):
            proc = tap_fork_server().start(
                ["--config", path, *args],
                env=full_env,
                cwd=REPO_ROOT,
                stdin=stdin.fileno(),
                stdout=out.fileno(),
                stderr=err.fileno(),
            )
            try:
                returncode = proc.wait(timeout=timeout)
            finally:
                proc.kill()
            out.seek(0)
            err.seek(0)
            stdout, stderr = _decoded(out.read()), _decoded(err.read())
    finally:
        os.unlink(path)
    seconds = time.monotonic() - started
    messages = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                messages.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a pretty-printed document (--discover, --about)
    return TapRun(returncode, stdout, stderr, seconds, messages)


def failure_lines(stderr: str) -> str:
    """The lines of a failed Meltano run that say why (no colour codes).

    Meltano's stderr ends in a framed traceback; its last 3,000 characters
    rarely hold the cause, and pytest cuts a long message short.
    """
    plain = re.sub(r"\x1b\[[0-9;]*m", "", stderr)
    wanted = [
        line
        for line in plain.splitlines()
        if re.search(r"error|exception|failed", line, re.IGNORECASE)
    ]
    return "\n".join(wanted[-40:]) or plain[-3000:]


def error_lines(run: TapRun) -> list[str]:
    """Lines of stderr that are not routine logging (the user-facing errors)."""
    return [line for line in run.log_lines() if line.startswith("tap-mixoads: error:")]


@dataclass
class PipelineRun:
    """What one ``tap | target-postgres`` pipeline did."""

    tap_returncode: int
    target_returncode: int
    tap_stderr: str
    target_stderr: str
    target_stdout: str
    seconds: float

    @property
    def final_state(self) -> dict[str, Any] | None:
        """The last state the target emitted (its stdout's last JSON line)."""
        for line in reversed(self.target_stdout.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                state: dict[str, Any] = json.loads(line)
                return state
        return None


def target_postgres_bin() -> str:
    """The target-postgres executable installed beside this Python."""
    return str(Path(sys.executable).parent / "target-postgres")


def loader_command() -> list[str]:
    """The loader as Meltano runs it: the stock MeltanoLabs target-postgres.

    The dev environment installs the same pinned version as meltano.yml.
    """
    return [target_postgres_bin()]


def run_pipeline(
    config: dict[str, Any],
    target_config: dict[str, Any],
    *,
    timeout: float = 300,
    state: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> PipelineRun:
    """Run the real tap piped into the real target-postgres, like Meltano does.

    ``state`` (optional) is given to the tap with ``--state``, as Meltano
    passes the previous run's state; ``env`` adds environment variables. Both
    processes are forked by their fork servers (:func:`tap_fork_server`,
    :func:`target_fork_server`): no interpreter start-up.
    """
    with tempfile.TemporaryDirectory() as tmp:
        tap_cfg = Path(tmp, "tap.json")
        tap_cfg.write_text(json.dumps(config))
        tap_args = ["--config", str(tap_cfg)]
        if state is not None:
            state_file = Path(tmp, "state.json")
            state_file.write_text(json.dumps(state))
            tap_args += ["--state", str(state_file)]
        target_cfg = Path(tmp, "target.json")
        target_cfg.write_text(json.dumps(target_config))
        tap_err = Path(tmp, "tap.err")
        target_err = Path(tmp, "target.err")
        full_env = {
            k: v for k, v in os.environ.items() if not k.startswith("TAP_MIXOADS_")
        }
        full_env.update(env or {})
        started = time.monotonic()
        with (
            tap_err.open("w") as tap_err_fh,
            target_err.open("w") as target_err_fh,
            open(os.devnull, "rb") as stdin,
            tempfile.TemporaryFile() as target_out_fh,
        ):
            # The pipe: the tap writes into it, the target reads from it; once
            # both hold their end, ours are closed (the target sees EOF when
            # the tap exits, as with a shell pipe).
            read_end, write_end = os.pipe()
            try:
                tap = tap_fork_server().start(
                    tap_args,
                    env=full_env,
                    cwd=REPO_ROOT,
                    stdin=stdin.fileno(),
                    stdout=write_end,
                    stderr=tap_err_fh.fileno(),
                )
                os.close(write_end)
                write_end = -1
                target = target_fork_server().start(
                    ["--config", str(target_cfg)],
                    env=full_env,
                    cwd=REPO_ROOT,
                    stdin=read_end,
                    stdout=target_out_fh.fileno(),
                    stderr=target_err_fh.fileno(),
                )
            finally:
                for fd in (read_end, write_end):
                    if fd >= 0:
                        os.close(fd)
            try:
                target.wait(timeout=timeout)
                tap.wait(timeout=timeout)
            finally:
                for proc in (tap, target):
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
            target_out_fh.seek(0)
            target_out = target_out_fh.read()
        seconds = time.monotonic() - started
        return PipelineRun(
            tap.returncode,
            target.returncode,
            tap_err.read_text(),
            target_err.read_text(),
            target_out.decode(),
            seconds,
        )
