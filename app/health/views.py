"""Probe endpoints (/healthz, /readyz) and the API status (beat heartbeat)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from health import checks, services


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No I/O, so a slow database never restarts web pods."""
    return JsonResponse({"status": "ok"})


log = logging.getLogger("health")
# Requests that came through the Ingress carry this header (the controller adds it); the
# kubelet's probes and Prometheus call the pod directly, without it.
PROXIED_HEADER = "HTTP_X_FORWARDED_FOR"


def proxied(request: HttpRequest) -> bool:
    return PROXIED_HEADER in request.META


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database, cache and broker answer, else 503 naming the failure.

    Through the Ingress the answer says only which check failed: error texts name hosts and
    ports. They go to the log, and to direct (in-cluster) requests."""
    ok, results = checks.run_checks()
    if not ok:
        log.warning("readyz: %s", {name: r for name, r in results.items() if not r["ok"]})
    if proxied(request):
        results = {name: {"ok": result["ok"]} for name, result in results.items()}
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": results}, status=200 if ok else 503
    )


@api_view(["GET"])
@permission_classes([AllowAny])
def status(request: Request) -> Response:
    """Which release answered, and when beat last ticked (recorded by a worker): the way to
    see that beat is alive."""
    return Response({"release": settings.RELEASE, "heartbeat": services.heartbeat_status()})
