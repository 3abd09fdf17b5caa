"""The beat heartbeat: a row per schedule entry, so "is beat alive?" is one query away."""

from django.db import models


class Heartbeat(models.Model):
    name = models.CharField(max_length=100, primary_key=True)
    last_run = models.DateTimeField()
    count = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_run.isoformat()} (#{self.count})"
