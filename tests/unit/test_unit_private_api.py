"""Guards for every private library name the tap relies on (private_api).

Each fails on an upgrade that removes or changes the name, so the break
shows in the build. A new private name goes into tap_mixoads/private_api.py
with a guard here; the last test keeps it that way.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re

import requests

from tap_mixoads.private_api import cli_config_input, set_body

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "tap_mixoads"


def test_the_sdk_cli_config_input_has_config_and_parse_env():
    from singer_sdk.plugin_base import _ConfigInput

    fields = {f.name for f in dataclasses.fields(_ConfigInput)}
    assert {"config", "parse_env"} <= fields
    parsed = _ConfigInput(config={"a": 1}, parse_env=True)
    assert cli_config_input(parsed) == ({"a": 1}, True)
    assert cli_config_input(None) == ({}, False)


def test_a_body_set_on_a_response_is_its_content():
    out = requests.Response()
    out.status_code = 200
    set_body(out, b'{"ok": true}')
    assert out.content == b'{"ok": true}'
    assert out.json() == {"ok": True}


def test_no_other_module_touches_a_private_library_name():
    """``obj._name`` and ``import _Name`` appear only in private_api.py.

    The tap's own private names are reached through ``self``/``cls`` (or
    its own modules' ``_helpers``, called by bare name); anything else
    before a ``._name`` is another object's private attribute.
    """
    offenders = []
    attribute = re.compile(r"(\w+|\))\._[a-zA-Z]\w*")
    imported = re.compile(r"^\s*from\s+(?!tap_mixoads)\S+\s+import\s+.*\b_[A-Za-z]")
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "private_api.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            found = [
                m.group(0)
                for m in attribute.finditer(code)
                if m.group(1) not in {"self", "cls", "os"}
            ]
            if imported.search(code):
                found.append(code.strip())
            offenders += [f"{path.name}:{number}: {f}" for f in found]
    assert offenders == []
