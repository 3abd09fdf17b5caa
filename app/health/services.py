"""Heartbeats recorded by the beat schedule, and read by the status endpoint."""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import F
from django.utils import timezone

from health.models import Heartbeat

BEAT = "beat"


def record_heartbeat(name: str = BEAT, now: datetime.datetime | None = None) -> None:
    now = now or timezone.now()
    updated = Heartbeat.objects.filter(name=name).update(last_run=now, count=F("count") + 1)
    if not updated:
        Heartbeat.objects.get_or_create(name=name, defaults={"last_run": now, "count": 1})


def heartbeat_status(name: str = BEAT, now: datetime.datetime | None = None) -> dict[str, Any]:
    """{lastRun, count, ageSeconds}; lastRun is None until beat's first tick ran on a worker."""
    beat = Heartbeat.objects.filter(name=name).first()
    if beat is None:
        return {"lastRun": None, "count": 0, "ageSeconds": None}
    age = ((now or timezone.now()) - beat.last_run).total_seconds()
    return {"lastRun": beat.last_run.isoformat(), "count": beat.count, "ageSeconds": round(age, 3)}
