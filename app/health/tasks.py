"""Celery tasks of the health app; thin, they call services."""

from celery import shared_task

from health import services


@shared_task(name="health.tasks.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Scheduled by beat (CELERY_BEAT_SCHEDULE), run by a worker: proves both are alive."""
    services.record_heartbeat()
