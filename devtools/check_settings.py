"""Check that meltano.yml and .env.example mirror the tap's config_jsonschema.

config_jsonschema in tap_mixoads/tap.py is the one source of truth (STYLE.md);
this fails loudly when meltano.yml's extractor settings or .env.example drift
from it, and prints the settings block meltano.yml should have.

    .venv/bin/python -m devtools.check_settings      # part of `make lint`
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CREDENTIALS = {"api_url", "email", "password"}  # .env.example holds demo values
_KINDS = {"string": "string", "integer": "integer", "number": "decimal"}
_KINDS["boolean"] = "boolean"
# Deliberate deviations, each explained next to the setting in meltano.yml.
# request_timeout: Meltano 4.4.1 cannot write a `decimal` read from an env var
# (decimal.Decimal is not JSON serializable), so it is declared integer.
KIND_OVERRIDES = {"request_timeout": "integer"}


def expected_settings() -> tuple[list[dict[str, Any]], list[str]]:
    """Return (meltano settings, required names) derived from the tap."""
    from tap_mixoads.tap import TapMixoAds

    schema = TapMixoAds.config_jsonschema
    settings: list[dict[str, Any]] = []
    for name, prop in schema["properties"].items():
        types = prop.get("type", "string")
        types = [types] if isinstance(types, str) else types
        kind = KIND_OVERRIDES.get(name) or _KINDS[next(t for t in types if t != "null")]
        setting: dict[str, Any] = {"name": name, "kind": kind}
        if "default" in prop:
            setting["value"] = prop["default"]
        if prop.get("secret"):
            setting["sensitive"] = True
        if "title" in prop:
            setting["label"] = prop["title"]
        if "description" in prop:
            setting["description"] = prop["description"]
        settings.append(setting)
    return settings, list(schema.get("required", []))


def _extractor() -> dict[str, Any]:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    for plugin in project["plugins"]["extractors"]:
        if plugin["name"] == "tap-mixoads":
            return dict(plugin)
    raise SystemExit("meltano.yml: no extractor named tap-mixoads")


def check() -> list[str]:
    expected, required = expected_settings()
    plugin = _extractor()
    actual = plugin.get("settings", [])
    problems: list[str] = []
    if [s["name"] for s in actual] != [s["name"] for s in expected]:
        problems.append(
            "meltano.yml setting names/order "
            f"{[s['name'] for s in actual]} != tap {[s['name'] for s in expected]}"
        )
    by_name = {s["name"]: s for s in actual}
    for want in expected:
        have = by_name.get(want["name"], {})
        for key in ("kind", "value", "sensitive", "label", "description"):
            if have.get(key) != want.get(key):
                problems.append(
                    f"meltano.yml {want['name']}.{key}: "
                    f"{have.get(key)!r} != tap {want.get(key)!r}"
                )
    groups = [sorted(g) for g in plugin.get("settings_group_validation", [])]
    if groups != [sorted(required)]:
        problems.append(
            f"meltano.yml settings_group_validation {groups} != [{sorted(required)}]"
        )
    env = _env_example()
    for want in expected:
        key = "TAP_MIXOADS_" + want["name"].upper()
        if key not in env:
            problems.append(f".env.example: {key} missing")
        elif want["name"] not in CREDENTIALS and "value" in want:
            default = want["value"]
            text = str(default).lower() if isinstance(default, bool) else str(default)
            if env[key] != text:
                problems.append(f".env.example {key}={env[key]} != default {text}")
    extra = {k for k in env if k.startswith("TAP_MIXOADS_")} - {
        "TAP_MIXOADS_" + s["name"].upper() for s in expected
    }
    problems += [f".env.example: {k} is not a tap setting" for k in sorted(extra)]
    return problems


def _env_example() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _sep, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def main() -> int:
    problems = check()
    if not problems:
        print("meltano.yml and .env.example mirror config_jsonschema")
        return 0
    print("settings drift from tap_mixoads/tap.py config_jsonschema:")
    for problem in problems:
        print(f"  - {problem}")
    expected, required = expected_settings()
    print("\nmeltano.yml extractor block should read:")
    block = {"settings_group_validation": [required], "settings": expected}
    print(yaml.safe_dump(block, sort_keys=False, width=1000))
    return 1


if __name__ == "__main__":
    sys.exit(main())
