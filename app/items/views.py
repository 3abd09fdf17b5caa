"""The items API: each user sees and changes only their own items."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import QuerySet
from rest_framework import viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.serializers import BaseSerializer
from rest_framework.throttling import ScopedRateThrottle

from items import services
from items.models import Item
from items.serializers import ItemSerializer


class ItemViewSet(viewsets.ModelViewSet[Item]):
    serializer_class = ItemSerializer

    def _owner(self) -> User:
        # IsAuthenticated (the default permission) has let only real users through.
        user = self.request.user
        assert isinstance(user, User)
        return user

    def get_queryset(self) -> QuerySet[Item]:
        return Item.objects.filter(owner=self._owner()).select_related("owner")

    def perform_create(self, serializer: BaseSerializer[Item]) -> None:
        serializer.instance = services.create_item(owner=self._owner(), **serializer.validated_data)

    def perform_update(self, serializer: BaseSerializer[Item]) -> None:
        assert serializer.instance is not None
        serializer.instance = services.update_item(serializer.instance, **serializer.validated_data)


class ThrottledObtainAuthToken(ObtainAuthToken):
    """POST username and password, get the user's token; at most DJANGO_TOKEN_THROTTLE_RATE
    attempts per client address (429 beyond, with Retry-After)."""

    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "token"
