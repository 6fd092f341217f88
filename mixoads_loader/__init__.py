"""``target-postgres-mixoads``: target-postgres with one-line database errors.

A separate, tiny distribution (its own ``pyproject.toml`` in this folder) so
that the loader's virtualenv gets target-postgres plus this wrapper and
nothing of the tap: the tap and the loader keep their own dependency pins.
"""
