"""Settings that lie and secrets on disk (issue "exit status is the truth", 6-7).

The one-line errors for ``TAP_MIXOADS_SYNC_ENABLED=nope``, ``1e5`` for an
integer and a config file with a trailing comma are tested in
tests/test_settings.py (``test_a_wrongly_typed_env_var_is_one_line_and_exit_1``,
``test_a_malformed_config_file_is_one_line_naming_it``); ``.meltano`` 0700 in
tests/test_meltano.py (``test_project_meltano_folder_is_private_to_the_user``).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess

import pytest

from tests.helpers import REPO_ROOT, error_lines, run_tap, tap_config


@pytest.mark.parametrize("suffix", ["/api/", "/api"])
def test_an_api_url_ending_in_api_says_what_was_called_and_what_answered(calm, suffix):
    run = run_tap(tap_config(calm.url + suffix, sync_mode="none", max_retries=2))
    assert run.returncode == 1, run.stderr[-3000:]
    (line,) = error_lines(run)
    assert line == (
        "tap-mixoads: error: POST /api/auth/token answered 401 (Unauthorized): "
        "that URL wants a bearer token, so it is not the token endpoint; check "
        "api_url (the API's base URL, without /api)"
    )
    assert "email and password" not in line  # not "wrong credentials"
    assert not calm.stats()["requests"].get("GET /api/campaigns")


def test_make_env_creates_a_private_env_file(tmp_path):
    # `make env` copies .env.example to .env, which will hold a password:
    # 0600 whatever the caller's umask.
    for name in ("Makefile", ".env.example"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    proc = subprocess.run(
        ["make", "env"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert proc.returncode == 0, proc.stderr
    mode = stat.S_IMODE((tmp_path / ".env").stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert (tmp_path / ".env").read_text() == (tmp_path / ".env.example").read_text()
