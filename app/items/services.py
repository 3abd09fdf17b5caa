"""What happens to items: creation and changes queue their enrichment once committed."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from items.models import Item
from observability.metrics import ITEMS_CREATED


def _enqueue_enrichment(item: Item) -> None:
    from items.tasks import enrich_item  # noqa: PLC0415 - items.tasks imports this module

    # After commit: a worker must never look for a row that is not visible yet.
    transaction.on_commit(lambda: enrich_item.delay(item.pk))


@transaction.atomic
def create_item(owner: User, title: str, body: str = "") -> Item:
    item = Item.objects.create(owner=owner, title=title, body=body)
    _enqueue_enrichment(item)
    ITEMS_CREATED.inc()
    return item


@transaction.atomic
def update_item(item: Item, **changes: Any) -> Item:
    for field, value in changes.items():
        setattr(item, field, value)
    item.word_count = None
    item.enriched_at = None
    item.save()
    _enqueue_enrichment(item)
    return item


def enrich_item(item_id: int) -> bool:
    """Count the words of an item; False when it was deleted meanwhile."""
    item = Item.objects.filter(pk=item_id).first()
    if item is None:
        return False
    item.word_count = len(f"{item.title} {item.body}".split())
    item.enriched_at = timezone.now()
    item.save(update_fields=["word_count", "enriched_at"])
    return True
