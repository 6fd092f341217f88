"""``python -m mixoads_loader``: the same as ``target-postgres-mixoads``."""

from __future__ import annotations

from mixoads_loader.cli import main

main()
