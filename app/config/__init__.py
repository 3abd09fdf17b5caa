"""The Django project package; importing it loads the Celery app (Django's Celery layout)."""

from config.celery import app as celery_app

__all__ = ("celery_app",)
