"""The client half of a fork server run, as a command: ``meltano`` for tests.

Tests run ``meltano`` as a command (``subprocess.run``, ``Popen``, Dagster's
``MIXOADS_MELTANO_BIN``). A fresh ``meltano`` spends ~1.2 s of CPU importing
itself before it does anything; :func:`tests.helpers.meltano_command` writes
a small executable that runs :func:`main` instead, so that each ``meltano``
is forked by a server that imported Meltano once (tests/tapfork.py).

The run gets this process's argv, environment, working directory and
stdin/stdout/stderr; SIGINT, SIGTERM and SIGHUP sent to this process are
passed on to it, and this process ends as the run ended (its exit status, or
the signal that ended it). Without the server (its socket gone) it becomes
the real command. Tests of process groups (a signal to Meltano's whole
group) start the real command: a forked run is not in this one's group.

The plugins Meltano starts in a test's private system dir are such
executables too (tests/conftest.py, :func:`tests.helpers.shadow_plugin_venv`),
forked by servers that run the plugin's own venv.

Standard library only: it runs under ``python -S``, in ~20 ms.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys


def main(path: str, real: str, *, real_if: str | None = None) -> None:
    """Have the server at ``path`` run ``real`` with this process's argv.

    Args:
        path: the server's socket.
        real: the command the server runs (and this process becomes without
            the server).
        real_if: an environment variable that, when set, makes this process
            the real command (tests of signals to a process group).
    """
    argv = [real, *sys.argv[1:]]
    if real_if and os.environ.get(real_if):
        os.execv(real, argv)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        os.execv(real, argv)
    request = {
        "argv": argv,
        "env": dict(os.environ),
        "cwd": os.getcwd(),
    }
    socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
    replies = conn.makefile("rb")
    pid = int(replies.readline().split()[1])

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    line = replies.readline()
    replies.close()
    conn.close()
    status = int(line.split()[1]) if line.startswith(b"status ") else 255 << 8
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    sys.exit(os.waitstatus_to_exitcode(status))
