"""URL map: the API under /api/, the admin. Probes and /metrics are answered by middleware."""

from django.contrib import admin
from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token

from health.views import status

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/token/", obtain_auth_token, name="api-token"),
    path("api/status/", status, name="api-status"),
    path("api/", include("items.urls")),
]
