"""mixoads_loader's one-line messages, without a database (see test_database_faults)."""

from __future__ import annotations

import sqlalchemy.exc

from mixoads_loader.cli import describe, server_address


def _operational(message: str) -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception(message))


def test_a_refused_connection_names_host_port_and_reason():
    exc = _operational(
        'connection failed: connection to server at "db.example", port 6543 '
        "failed: Connection refused\n\tIs the server running on that host?"
    )
    assert describe(exc, {"host": "db.example", "port": 6543}) == (
        "cannot connect to PostgreSQL at db.example:6543 (Connection refused)"
    )


def test_a_connection_lost_mid_load_says_so_and_what_to_do():
    exc = _operational("server closed the connection unexpectedly\n\tThis probably")
    message = describe(exc, {"host": "h", "port": 5432})
    assert message.startswith(
        "lost the connection to PostgreSQL at h:5432 mid-load "
        "(server closed the connection unexpectedly)"
    )
    assert "re-run" in message
    assert "\n" not in message


def test_an_sqlalchemy_url_gives_host_and_port_never_the_password():
    config = {"sqlalchemy_url": "postgresql+psycopg://u:s3cret@pg.internal:7000/db"}
    assert server_address(config) == "pg.internal:7000"
    exc = _operational("connection failed: could not connect: timeout expired")
    assert "s3cret" not in describe(exc, config)


def test_defaults_when_host_or_port_are_not_set():
    assert server_address({}) == "localhost:5432"
