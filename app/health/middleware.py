"""Answer probes and /metrics before anything else looks at the request.

The kubelet probes the pod IP over plain HTTP and Prometheus scrapes it the same way; neither
would pass ALLOWED_HOSTS or the HTTPS redirect, and neither needs sessions or CSRF.
"""

from __future__ import annotations

from collections.abc import Callable

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
        if endpoint is None:
            return self.get_response(request)
        # /metrics is not for the public.
        if endpoint is metrics and proxied(request):
            return HttpResponseNotFound()
        return endpoint(request)
