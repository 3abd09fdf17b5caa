"""Fixtures shared by every test folder: real services started on free ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.infrastructure import missing_infrastructure
from tests.postgres_server import PostgresServer, find_bin_dir


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server (Debian's), one per test session."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        missing_infrastructure("PostgreSQL server binaries (Debian package postgresql)")
    assert bin_dir is not None
    server = PostgresServer(bin_dir).start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
