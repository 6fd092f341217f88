"""A fork server for tap (and target) processes, without the start-up.

Each tap run the tests start (``tests.helpers.run_tap``, ``run_pipeline``) is
a process of its own, started with its own argv, environment, working
directory and stdin/stdout/stderr, and it ends with its own exit status. A
fresh interpreter spends ~0.35 s of CPU importing the tap (the Singer SDK,
requests, ...) before it does anything, target-postgres ~0.5 s; a server
imports one program's modules once and forks a process per run instead.

``python -m tests.tapfork SOCKET module tap_mixoads tap_mixoads.cli ...``
runs ``python -m tap_mixoads``; ``... SOCKET script PATH target_postgres.target``
runs the console script at PATH; the names after it are preloaded.

Protocol (one Unix-socket connection per run): the client sends one JSON
document (``argv``, ``env``, ``cwd``) with three file descriptors (the run's
stdin, stdout, stderr) attached; the server answers ``pid <n>`` when the run
has started and ``status <waitstatus>`` when it has ended. Each run is forked
by a small monitor process that waits for it, so the server itself never
blocks on a run and never runs a thread (it only forks from a
single-threaded state); it reaps the monitors, so that every run's CPU time
is accounted to the client, as a child's would be.

The forked run behaves like the interpreter would: its environment is
exactly the one sent (and the time zone re-read), ``sys.argv`` is the tap's,
it runs ``tap_mixoads.__main__`` as ``__main__``, and on the way out it
waits for non-daemon threads, runs ``atexit`` handlers and flushes stdout,
before exiting with the status ``SystemExit`` carried (or 1 on an uncaught
exception, after the traceback). Tests of process-level behaviour (signals,
interrupts, process groups) start the real ``python -m tap_mixoads``.
"""

from __future__ import annotations

import array
import atexit
import io
import json
import os
import runpy
import select
import signal
import socket
import sys
import threading
import time
import traceback
from typing import Any

_MAX_MESSAGE = 1 << 20


def _recv_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    fds = array.array("i")
    chunks = []
    while True:
        data, ancdata, _flags, _addr = conn.recvmsg(
            _MAX_MESSAGE, socket.CMSG_LEN(3 * fds.itemsize)
        )
        for level, kind, cmsg in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(cmsg) - (len(cmsg) % fds.itemsize)
                fds.frombytes(cmsg[:usable])
        if not data:
            break
        chunks.append(data)
        if data.endswith(b"\n"):
            break
    return json.loads(b"".join(chunks)), list(fds)


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def _std_streams() -> None:
    """Fresh sys.std* on fds 0-2, buffered as the interpreter would make them."""
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    out = open(1, "wb", buffering=0 if unbuffered else -1, closefd=False)  # noqa: SIM115
    sys.stdout = io.TextIOWrapper(
        out,  # type: ignore[arg-type]
        encoding="utf-8",
        line_buffering=os.isatty(1),
        write_through=unbuffered,
    )
    err = open(2, "wb", buffering=0, closefd=False)  # noqa: SIM115
    sys.stderr = io.TextIOWrapper(
        err,  # type: ignore[arg-type]
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )


def _run(program: tuple[str, str], request: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: become the program's process, then exit."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    _std_streams()
    sys.argv = list(request["argv"])
    kind, name = program
    code = 0
    try:
        if kind == "module":
            runpy.run_module(name, run_name="__main__", alter_sys=True)
        else:
            sys.argv[0] = name
            runpy.run_path(name, run_name="__main__")
    except SystemExit as exc:
        code = _exit_code(exc)
    except KeyboardInterrupt:
        # The interpreter dies of the signal on an uncaught KeyboardInterrupt.
        _finish()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:
        traceback.print_exc()
        code = 1
    _finish()
    os._exit(code)


def _finish() -> None:
    """What interpreter shutdown does before the process exits."""
    try:
        threading._shutdown()  # type: ignore[attr-defined]
    except Exception:
        traceback.print_exc()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            continue


def _monitor(
    program: tuple[str, str],
    conn: socket.socket,
    request: dict[str, Any],
    fds: list[int],
) -> None:
    """In the forked monitor: fork the run, report its pid and its status."""
    pid = os.fork()
    if pid == 0:
        conn.close()
        _run(program, request, fds)
    for fd in fds:
        os.close(fd)
    conn.sendall(f"pid {pid}\n".encode())
    _pid, status = os.waitpid(pid, 0)
    conn.sendall(f"status {status}\n".encode())
    os._exit(0)


def serve(path: str, program: tuple[str, str], preload: list[str]) -> None:
    """Accept runs of ``program`` on the Unix socket ``path`` until stdin closes.

    The client holds the other end of stdin: when it goes away, so does the
    server (runs already started finish on their own).
    """
    for name in preload:
        __import__(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    print("ready", flush=True)
    monitors: set[int] = set()
    while True:
        readable, _, _ = select.select([listener, sys.stdin], [], [], 0.5)
        # Reap finished monitors (waited for, not ignored: so that the runs'
        # CPU time adds up in ours, and ours in the client's).
        for pid in list(monitors):
            if os.waitpid(pid, os.WNOHANG)[0]:
                monitors.discard(pid)
        if sys.stdin in readable:
            for pid in monitors:
                os.waitpid(pid, 0)
            return  # EOF: the client is gone; its runs have ended
        if listener not in readable:
            continue
        conn, _addr = listener.accept()
        request, fds = _recv_request(conn)
        pid = os.fork()
        if pid == 0:
            listener.close()
            _monitor(program, conn, request, fds)
        monitors.add(pid)
        conn.close()
        for fd in fds:
            os.close(fd)


if __name__ == "__main__":
    serve(sys.argv[1], (sys.argv[2], sys.argv[3]), sys.argv[4:])
