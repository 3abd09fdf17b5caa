from django.contrib import admin

from items.models import Item


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin[Item]):
    list_display = ("title", "owner", "created_at", "word_count", "enriched_at")
    list_filter = ("enriched_at",)
    search_fields = ("title", "body")
    readonly_fields = ("word_count", "enriched_at")
