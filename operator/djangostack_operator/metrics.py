"""Prometheus metrics of the operator, served on their own port by `djangostack run`.

The work queue and reconcile metrics carry controller-runtime's names and labels, so the
dashboards and alerts written for Go operators work unchanged.
"""

from __future__ import annotations

import contextlib
import threading
from typing import get_args

from prometheus_client import Counter, Gauge, Histogram

from djangostack_operator.stackmetrics import StackSample
from djangostack_operator.status_types import Phase

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
LEADER = Gauge("leader_election_master_status", "1 while this replica holds the lease.", ["name"])

# Per stack, labelled by namespace and name (StackMetrics keeps them and removes a deleted
# stack's): what the dashboards and alerts of the chart read.
STACKS = Gauge("djangostack_stacks", "DjangoStacks by their Ready condition.", ["ready"])
_STACK = ["namespace", "name"]
STACK_READY = Gauge("djangostack_stack_ready", "1 while the stack is Ready, else 0.", _STACK)
STACK_PHASE = Gauge(
    "djangostack_stack_phase", "1 for the stack's current phase, 0 for the others.",
    [*_STACK, "phase"],
)  # fmt: skip
STACK_LAST_BACKUP = Gauge(
    "djangostack_stack_last_backup_timestamp_seconds",
    "When the stack's newest successful backup finished (Unix seconds).",
    _STACK,
)
STACK_BACKUP_INTERVAL = Gauge(
    "djangostack_stack_backup_interval_seconds",
    "Longest time between two scheduled backups of the stack (absent: none scheduled).",
    _STACK,
)
STACK_CERTIFICATE_EXPIRY = Gauge(
    "djangostack_stack_certificate_expiry_timestamp_seconds",
    "When the certificate the stack's Ingress serves expires (Unix seconds).",
    _STACK,
)
STACK_RELEASE_SECONDS = Gauge(
    "djangostack_stack_last_release_duration_seconds",
    "How long the stack's newest release took, from its migrations Job to serving.",
    _STACK,
)
RELEASE_SECONDS = Histogram(
    "djangostack_release_duration_seconds",
    "How long releases took, from the migrations Job to serving (every stack).",
    buckets=(10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
)
MIGRATION_FAILURES = Counter(
    "djangostack_migration_failures", "Releases whose migration failed or timed out.", _STACK
)
_PER_STACK = (
    STACK_READY, STACK_LAST_BACKUP, STACK_BACKUP_INTERVAL, STACK_CERTIFICATE_EXPIRY,
    STACK_RELEASE_SECONDS, MIGRATION_FAILURES,
)  # fmt: skip


def _set_or_remove(gauge: Gauge, labels: tuple[str, str], value: float | None) -> None:
    if value is None:
        with contextlib.suppress(KeyError):
            gauge.remove(*labels)
    else:
        gauge.labels(*labels).set(value)


class StackMetrics:
    """Publishes each reconcile's StackSample, and `djangostack_stacks` (a count per Ready
    value); a deleted stack's series are removed, so they do not linger as stale values."""

    def __init__(self) -> None:
        self._ready: dict[tuple[str, str], str] = {}
        self._phases: dict[tuple[str, str], str | None] = {}
        self._lock = threading.Lock()

    def record(self, namespace: str, name: str, sample: StackSample | None) -> None:
        """One stack's newest sample; None: the stack is gone."""
        key = (namespace, name)
        with self._lock:
            if sample is None:
                self._forget(key)
            else:
                self._publish(key, sample)
            for value in ("True", "False"):
                STACKS.labels(ready=value).set(sum(1 for v in self._ready.values() if v == value))

    def _publish(self, key: tuple[str, str], sample: StackSample) -> None:
        self._ready[key] = "True" if sample.ready else "False"
        STACK_READY.labels(*key).set(1 if sample.ready else 0)
        if self._phases.get(key, "") != sample.phase:
            for phase in get_args(Phase):
                STACK_PHASE.labels(*key, phase).set(1 if phase == sample.phase else 0)
            self._phases[key] = sample.phase
        _set_or_remove(STACK_LAST_BACKUP, key, sample.last_backup)
        _set_or_remove(STACK_BACKUP_INTERVAL, key, sample.backup_interval)
        _set_or_remove(STACK_CERTIFICATE_EXPIRY, key, sample.certificate_expiry)
        if sample.release_seconds is not None:
            STACK_RELEASE_SECONDS.labels(*key).set(sample.release_seconds)
            RELEASE_SECONDS.observe(sample.release_seconds)
        # Present from the first sample, so rate() and increase() see the first failure.
        failures = MIGRATION_FAILURES.labels(*key)
        if sample.migration_failed:
            failures.inc()

    def _forget(self, key: tuple[str, str]) -> None:
        self._ready.pop(key, None)
        self._phases.pop(key, None)
        for metric in _PER_STACK:
            with contextlib.suppress(KeyError):
                metric.remove(*key)
        for phase in get_args(Phase):
            with contextlib.suppress(KeyError):
                STACK_PHASE.remove(*key, phase)
