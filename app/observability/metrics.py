"""Prometheus metrics of the web tier.

Under gunicorn PROMETHEUS_MULTIPROC_DIR is set (gunicorn.conf.py) before any worker imports
prometheus_client, so every worker writes its samples to that folder and /metrics aggregates
them; without it (manage.py, tests in one process) the default registry is used.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "django_http_requests_total",
    "HTTP requests answered, by method, route and status code.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "django_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route.",
    ["method", "route"],
)
ITEMS_CREATED = Counter("app_items_created_total", "Items created through the API.")


def exposition() -> tuple[bytes, str]:
    """(body, content type) of the current metrics of every worker of this pod."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
