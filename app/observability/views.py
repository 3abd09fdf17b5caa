from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from observability.metrics import exposition


def metrics(request: HttpRequest) -> HttpResponse:
    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)
