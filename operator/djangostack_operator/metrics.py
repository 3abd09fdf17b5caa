"""Prometheus metrics of the operator, served on their own port by `djangostack run`.

The work queue and reconcile metrics carry controller-runtime's names and labels, so the
dashboards and alerts written for Go operators work unchanged.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONTROLLER = "djangostack"

_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

WORKQUEUE_DEPTH = Gauge("workqueue_depth", "Current depth of the work queue.", ["name"])
WORKQUEUE_ADDS = Counter("workqueue_adds", "Adds handled by the work queue.", ["name"])
WORKQUEUE_RETRIES = Counter("workqueue_retries", "Retries handled by the work queue.", ["name"])
WORKQUEUE_QUEUE_SECONDS = Histogram(
    "workqueue_queue_duration_seconds",
    "How long a key waits in the work queue before a worker takes it.",
    ["name"],
    buckets=_DURATION_BUCKETS,
)
WORKQUEUE_WORK_SECONDS = Histogram(
    "workqueue_work_duration_seconds",
    "How long processing one key takes.",
    ["name"],
    buckets=_DURATION_BUCKETS,
)
WORKQUEUE_LONGEST_RUNNING = Gauge(
    "workqueue_longest_running_processor_seconds",
    "How long the longest-running key has been processed.",
    ["name"],
)

RECONCILES = Counter(
    "controller_runtime_reconcile",
    "Reconciles per controller, by result: success, error, requeue_after.",
    ["controller", "result"],
)
RECONCILE_ERRORS = Counter(
    "controller_runtime_reconcile_errors", "Reconciles that failed.", ["controller"]
)
RECONCILE_SECONDS = Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Time one reconcile took.",
    ["controller"],
    buckets=_DURATION_BUCKETS,
)
ACTIVE_WORKERS = Gauge(
    "controller_runtime_active_workers", "Workers busy reconciling.", ["controller"]
)
MAX_WORKERS = Gauge(
    "controller_runtime_max_concurrent_reconciles", "Size of the worker pool.", ["controller"]
)

API_REQUESTS = Counter(
    "djangostack_api_requests", "Requests the reconciler made to the API server.", ["verb"]
)
API_ERRORS = Counter(
    "djangostack_api_errors",
    "Requests the API server refused or that failed, by HTTP status (0: no answer).",
    ["status"],
)
STACKS = Gauge("djangostack_stacks", "DjangoStacks by their Ready condition.", ["ready"])
LEADER = Gauge("leader_election_master_status", "1 while this replica holds the lease.", ["name"])


class ReadyGauge:
    """Keeps `djangostack_stacks` right: one Ready status per stack, counted per value."""

    def __init__(self) -> None:
        self._ready: dict[tuple[str, str], str] = {}

    def record(self, namespace: str, name: str, ready: str | None) -> None:
        """Remember one stack's Ready status (None: the stack is gone) and refresh the gauge."""
        key = (namespace, name)
        if ready is None:
            self._ready.pop(key, None)
        else:
            self._ready[key] = ready
        for value in ("True", "False", "Unknown"):
            STACKS.labels(ready=value).set(sum(1 for v in self._ready.values() if v == value))
