"""``--test`` and ``meltano config test`` check every account's login.

Both stop at the first record, which only the first account produces: on
0.x's code, with 2 of 4 accounts' passwords wrong, ``--test`` exited 0 and
``meltano config test`` said "Plugin configuration is valid". Now every
account's token exchange is tried first (no list call for an account that
cannot log in, no sync call at all), and the one failure line names them.
"""

from __future__ import annotations

import json

from tests.helpers import mock_accounts, run_tap, tap_config
from tests.test_meltano import meltano, tap_env

SYNC = "POST /api/campaigns/{id}/sync"


def _fleet_with_two_wrong_passwords() -> list[dict[str, object]]:
    accounts = mock_accounts(1, 2, 3, 4)
    accounts[1]["password"] = "wrong-password-2"
    accounts[3]["password"] = "wrong-password-4"
    return accounts


def test_test_names_every_account_that_cannot_log_in(mock_api):
    server = mock_api("calm", accounts=4)
    config = tap_config(server.url, accounts=_fleet_with_two_wrong_passwords())
    run = run_tap(config, "--test", timeout=120)
    assert run.returncode == 1, run.stderr[-3000:]
    (line,) = [x for x in run.stderr.splitlines() if "tap-mixoads: error:" in x]
    assert "2 of 4 accounts cannot log in" in line
    assert "account 'client-2'" in line and "account 'client-4'" in line
    assert "client-1'" not in line and "client-3'" not in line
    assert "POST /auth/token answered 401" in line
    assert "wrong-password" not in run.stderr  # never the secret
    assert "Traceback" not in run.stderr
    assert not run.records  # nothing read: the check comes before the listing
    stats = server.stats()
    assert SYNC not in stats["requests"]
    assert stats["requests"].get("GET /api/campaigns", 0) == 0


def test_test_with_every_login_good_reads_one_page_per_stream_and_passes(mock_api):
    server = mock_api("calm", accounts=4)
    config = tap_config(server.url, accounts=mock_accounts(1, 2, 3, 4))
    run = run_tap(config, "--test", timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "All 4 accounts logged in" in run.stderr
    stats = server.stats()
    assert SYNC not in stats["requests"]
    # Every account exchanged its credentials once; at most one list call each.
    for k in (1, 2, 3, 4):
        assert server.client_stats(f"client-{k}")["requests"] <= 1


def test_an_empty_shard_passes_the_test_saying_why(mock_api):
    server = mock_api("calm", accounts=4)
    accounts = mock_accounts(1, 2, 3, 4)
    # Shard 2 of 3 holds none of client-1..4 (see tests/test_shards.py).
    run = run_tap(
        tap_config(server.url, accounts=accounts, shard="2/3"), "--test", timeout=60
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "falls in this shard; nothing to do" in run.stderr
    assert server.stats()["requests"].get("GET /api/campaigns", 0) == 0


def test_meltano_config_test_fails_naming_the_accounts(mock_api):
    server = mock_api("calm", accounts=4)
    env = tap_env(
        server.url,
        TAP_MIXOADS_ACCOUNTS=json.dumps(_fleet_with_two_wrong_passwords()),
    )
    proc = meltano("config", "test", "tap-mixoads", env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "Plugin configuration is valid" not in out
    assert "2 of 4 accounts cannot log in" in out, out[-3000:]
    assert "client-2" in out and "client-4" in out
    assert "wrong-password" not in out
    stats = server.stats()
    assert SYNC not in stats["requests"]
    assert stats["requests"].get("GET /api/campaigns", 0) == 0
