"""Probe endpoints (/healthz, /readyz) and the API status (beat heartbeat)."""

from __future__ import annotations

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


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database, cache and broker answer, else 503 naming the failure."""
    ok, results = checks.run_checks()
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": results}, status=200 if ok else 503
    )


@api_view(["GET"])
@permission_classes([AllowAny])
def status(request: Request) -> Response:
    """Which release answered, and when beat last ticked (recorded by a worker): the way to
    see that beat is alive."""
    return Response({"release": settings.RELEASE, "heartbeat": services.heartbeat_status()})
