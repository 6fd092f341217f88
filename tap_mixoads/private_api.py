"""Every private name of a library that the tap still relies on, in one place.

Each is used only through a function here, and each has a guard test
(``tests/unit/test_private_api.py``) that fails on a library upgrade that
removes or changes it, so a break shows in the build, not in production.

- singer-sdk ``_ConfigInput``: the CLI's parsed ``--config`` value, with
  ``config`` and ``parse_env``. The SDK's own ``cb_test`` reads it the same
  way and offers no public accessor; ``tap-mixoads --test`` must build the
  tap from the same input (:mod:`tap_mixoads.selftest`).
- requests ``Response._content``: the body the wire read from aiohttp, in
  chunks, against ``max_response_bytes`` and the whole-attempt deadline
  (:mod:`tap_mixoads.http.wire`), handed on as a ``requests.Response``.
  requests has no public way to hand a response a body read elsewhere;
  ``Response.content`` returns ``_content`` once it is set.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    import requests


def cli_config_input(value: t.Any) -> tuple[t.Any, bool]:
    """``(config, parse_env)`` of the CLI's parsed ``--config`` value.

    ``value`` is singer-sdk's ``_ConfigInput`` (or None without ``--config``).
    """
    config = getattr(value, "config", None)
    return (config if config is not None else {}), bool(
        getattr(value, "parse_env", False)
    )


def set_body(response: requests.Response, body: bytes) -> None:
    """Give ``response`` the body read by the wire (``Response._content``)."""
    response._content = body
