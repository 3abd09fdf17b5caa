"""Celery tasks of the items app; thin, they call services."""

from celery import shared_task

from items import services


@shared_task(name="items.tasks.enrich_item", ignore_result=True)
def enrich_item(item_id: int) -> None:
    services.enrich_item(item_id)
