"""The items API: each user sees and changes only their own items."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import viewsets

from items import services
from items.models import Item
from items.serializers import ItemSerializer


class ItemViewSet(viewsets.ModelViewSet):
    serializer_class = ItemSerializer

    def get_queryset(self) -> QuerySet[Item]:
        return Item.objects.filter(owner=self.request.user).select_related("owner")

    def perform_create(self, serializer: ItemSerializer) -> None:
        serializer.instance = services.create_item(
            owner=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer: ItemSerializer) -> None:
        assert serializer.instance is not None
        serializer.instance = services.update_item(serializer.instance, **serializer.validated_data)
