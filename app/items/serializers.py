from rest_framework import serializers

from items.models import Item


class ItemSerializer(serializers.ModelSerializer[Item]):
    owner = serializers.CharField(source="owner.get_username", read_only=True)

    class Meta:
        model = Item
        fields = (
            "id",
            "owner",
            "title",
            "body",
            "created_at",
            "updated_at",
            "word_count",
            "enriched_at",
        )
        read_only_fields = ("created_at", "updated_at", "word_count", "enriched_at")
