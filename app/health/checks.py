"""The readiness checks: database, cache and broker, each timed, each failure named."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection


def database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def cache_roundtrip() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=10)
    try:
        if cache.get(key) != "ok":
            raise RuntimeError("the value read back differs from the value written")
    finally:
        cache.delete(key)


@functools.cache
def _broker() -> redis.Redis:
    # One client (and connection pool) per process; it reconnects on its own.
    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL,
        socket_connect_timeout=settings.REDIS_TIMEOUT_SECONDS,
        socket_timeout=settings.REDIS_TIMEOUT_SECONDS,
    )


def broker() -> None:
    if not _broker().ping():
        raise RuntimeError("PING was not answered")


CHECKS: dict[str, Callable[[], None]] = {
    "database": database,
    "cache": cache_roundtrip,
    "broker": broker,
}


def run_checks(checks: dict[str, Callable[[], None]] = CHECKS) -> tuple[bool, dict[str, Any]]:
    """(all ok, {name: {ok, durationMs[, error]}}). Errors carry the exception's type and
    message only: driver messages name hosts and ports, never passwords."""
    results: dict[str, Any] = {}
    for name, check in checks.items():
        started = time.perf_counter()
        try:
            check()
            result: dict[str, Any] = {"ok": True}
        except Exception as error:  # any failure means "not ready"
            result = {"ok": False, "error": f"{type(error).__name__}: {error}"[:500]}
        result["durationMs"] = round((time.perf_counter() - started) * 1000, 2)
        results[name] = result
    return all(result["ok"] for result in results.values()), results
