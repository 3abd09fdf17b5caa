"""Fixtures shared by every test folder: real services started on free ports."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from djangostack_devcluster.services import PostgresServer, RedisServer, find_bin_dir
from tests.infrastructure import missing_infrastructure

REDIS_PASSWORD = "test-only-redis-password"


def postgres_bin_dir() -> Path:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        missing_infrastructure("PostgreSQL server binaries (Debian package postgresql)")
    assert bin_dir is not None
    return bin_dir


def require_redis_server() -> None:
    if shutil.which("redis-server") is None:
        missing_infrastructure("redis-server (Debian package redis-server)")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server (Debian's), one per test session."""
    server = PostgresServer(postgres_bin_dir()).start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real Redis server (Debian's), with a password, one per test session."""
    require_redis_server()
    server = RedisServer(REDIS_PASSWORD).start()
    try:
        yield server
    finally:
        server.stop()
