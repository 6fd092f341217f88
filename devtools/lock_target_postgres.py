"""Write plugins/loaders/target-postgres--meltanolabs.lock without Meltano Hub.

``meltano lock`` fetches the definition from Hub, which this project's machines
cannot reach. This builds the same JSON from the installed target's own
``--about --format=json`` and serialises it with Meltano's ``StandalonePlugin``
(the class ``meltano lock`` itself writes), so the shape cannot drift.

Usage (after bumping meltanolabs-target-postgres)::

    .venv/bin/python -m devtools.lock_target_postgres
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCK_PATH = ROOT / "plugins" / "loaders" / "target-postgres--meltanolabs.lock"
PIP_URL = "meltanolabs-target-postgres~=0.8.1"

# Secrets the target does not flag with "secret" in --about (Hub marks them).
_SENSITIVE = {"password", "ssl_client_private_key"}
_KINDS = {
    "string": "string",
    "integer": "integer",
    "number": "decimal",
    "boolean": "boolean",
    "object": "object",
    "array": "array",
}
_ACRONYMS = {"ssl": "SSL", "ssh": "SSH", "url": "URL", "sqlalchemy": "SQLAlchemy"}


def _label(name: str) -> str:
    words = name.replace(".", " ").replace("_", " ").replace("+", "+ ").split()
    return " ".join(_ACRONYMS.get(w, w.capitalize()) for w in words).replace("+ ", "+")


def _kind(prop: dict[str, Any]) -> str:
    types = prop.get("type", "string")
    types = [types] if isinstance(types, str) else [t for t in types if t != "null"]
    if "enum" in prop:
        return "options"
    return _KINDS.get(types[0] if types else "string", "string")


def _settings(props: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, prop in props.items():
        full = f"{prefix}{name}"
        if _kind(prop) == "object" and prop.get("properties"):
            # Hub flattens nested objects into dotted settings (ssh_tunnel.host).
            out.extend(_settings(prop["properties"], prefix=f"{full}."))
            continue
        setting: dict[str, Any] = {"name": full, "kind": _kind(prop)}
        if prop.get("default") is not None:
            setting["value"] = prop["default"]
        setting["label"] = _label(full)
        if prop.get("description"):
            setting["description"] = prop["description"]
        if prop.get("secret") or full in _SENSITIVE or full.endswith("private_key"):
            setting["sensitive"] = True
        if "enum" in prop:
            setting["options"] = [
                {"label": _label(str(v).replace("-", " ")), "value": v}
                for v in prop["enum"]
            ]
        out.append(setting)
    return sorted(out, key=lambda s: s["name"])


def build_lock(about: dict[str, Any]) -> dict[str, Any]:
    """Return the lock definition for the target described by ``about``."""
    from meltano.core.plugin.base import StandalonePlugin

    schema = about["settings"]
    plugin = StandalonePlugin(
        plugin_type="loaders",
        name="target-postgres",
        namespace="target_postgres",
        variant="meltanolabs",
        label="Postgres",
        docs="https://hub.meltano.com/loaders/target-postgres--meltanolabs",
        repo="https://github.com/MeltanoLabs/target-postgres",
        pip_url=PIP_URL,
        executable="target-postgres",
        description="PostgreSQL database loader",
        logo_url="https://hub.meltano.com/assets/logos/loaders/postgres.png",
        capabilities=sorted(about.get("capabilities", [])),
        settings_group_validation=[sorted(schema.get("required", []))],
        settings=_settings(schema["properties"]),
        supported_python_versions=about.get("supported_python_versions"),
        dialect="postgres",
        target_schema="$TARGET_POSTGRES_SCHEMA",
    )
    canonical: dict[str, Any] = json.loads(json.dumps(plugin.canonical(), default=str))
    return canonical


def main() -> int:
    exe = Path(sys.executable).parent / "target-postgres"
    about = json.loads(
        subprocess.run(
            [str(exe), "--about", "--format=json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
    with LOCK_PATH.open("w") as lockfile:
        json.dump(build_lock(about), lockfile, indent=2)
        lockfile.write("\n")
    print(f"wrote {LOCK_PATH.relative_to(ROOT)} (target-postgres {about['version']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
