"""The app's metrics for a Prometheus run by prometheus-operator: a PodMonitor of the web pods.

A PodMonitor, not a ServiceMonitor: /metrics is served only on web's metrics port, which no
Service exposes (render/django.py), so Prometheus scrapes the pods themselves.
"""

from __future__ import annotations

from typing import Any

from djangostack_operator.render import meta
from djangostack_operator.render.django import METRICS_PORT_NAME, WEB
from djangostack_operator.spec import DjangoStack

POD_MONITOR_API_VERSION = "monitoring.coreos.com/v1"


def pod_monitor(stack: DjangoStack) -> dict[str, Any] | None:
    monitoring = stack.spec.monitoring
    if not monitoring.pod_monitor:
        return None
    return {
        "apiVersion": POD_MONITOR_API_VERSION,
        "kind": "PodMonitor",
        "metadata": meta.metadata(
            stack, stack.names.web, WEB, extra_labels=dict(monitoring.labels)
        ),
        "spec": {
            "selector": {"matchLabels": meta.selector_labels(stack, WEB)},
            "podMetricsEndpoints": [
                {
                    "port": METRICS_PORT_NAME,
                    "path": "/metrics",
                    "scheme": "http",
                    "interval": monitoring.interval,
                }
            ],
        },
    }
