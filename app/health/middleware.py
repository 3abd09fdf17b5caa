"""Answer probes and /metrics before anything else looks at the request.

The kubelet probes the pod IP over plain HTTP and Prometheus scrapes it the same way; neither
would pass ALLOWED_HOSTS or the HTTPS redirect, and neither needs sessions or CSRF.

/metrics is served only on the metrics port (DJANGOSTACK_METRICS_PORT, gunicorn's second
listener), which no Service or Ingress routes to, and that port serves nothing else: which
listener a request arrived on is read from the connection's own socket, not from a header a
client could set. Without a metrics port (a local run by hand) /metrics is refused to
requests that came through a proxy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound

from health.views import healthz, proxied, readyz
from observability.views import metrics

ENDPOINTS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": healthz,
    "/readyz": readyz,
    "/metrics": metrics,
}


class InfrastructureEndpointsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        endpoint = ENDPOINTS.get(request.path_info.rstrip("/") or "/")
        if settings.METRICS_PORT:
            if local_port(request) == settings.METRICS_PORT:
                return metrics(request) if endpoint is metrics else HttpResponseNotFound()
            if endpoint is metrics:
                return HttpResponseNotFound()
        elif endpoint is metrics and proxied(request):
            return HttpResponseNotFound()
        if endpoint is None:
            return self.get_response(request)
        return endpoint(request)


def local_port(request: HttpRequest) -> int | None:
    """The port of the listener the request arrived on (gunicorn's connection socket)."""
    connection: Any = request.META.get("gunicorn.socket")
    try:
        return int(connection.getsockname()[1])
    except (AttributeError, OSError, IndexError, TypeError, ValueError):
        return None
