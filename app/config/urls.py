"""URL map: the API under /api/, the admin. Probes and /metrics are answered by middleware."""

from django.contrib import admin
from django.urls import include, path

from health.views import status
from items.views import ThrottledObtainAuthToken

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/token/", ThrottledObtainAuthToken.as_view(), name="api-token"),
    path("api/status/", status, name="api-status"),
    path("api/", include("items.urls")),
]
