"""Allow ``python -m tap_mixoads``."""

from __future__ import annotations

from tap_mixoads.cli import main

main()
