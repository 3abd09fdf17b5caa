"""Prometheus metrics of the operator, served on their own port by `djangostack run`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter(
    "djangostack_reconcile_total", "Reconciles of a DjangoStack, by result.", ["result"]
)
RECONCILE_ERRORS = Counter(
    "djangostack_reconcile_errors_total",
    "Reconciles that raised an error, by error kind.",
    ["kind"],
)
RECONCILE_SECONDS = Histogram(
    "djangostack_reconcile_duration_seconds",
    "Time one reconcile took.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
API_REQUESTS = Counter(
    "djangostack_api_requests_total", "Requests the reconciler made to the API server.", ["verb"]
)
STACKS = Gauge("djangostack_stacks", "DjangoStacks by their Ready condition.", ["ready"])

_ready_by_stack: dict[tuple[str, str], str] = {}


def record_ready(namespace: str, name: str, ready: str | None) -> None:
    """Remember one stack's Ready status (None: the stack is gone) and refresh the gauge."""
    key = (namespace, name)
    if ready is None:
        _ready_by_stack.pop(key, None)
    else:
        _ready_by_stack[key] = ready
    for value in ("True", "False", "Unknown"):
        STACKS.labels(ready=value).set(sum(1 for v in _ready_by_stack.values() if v == value))
