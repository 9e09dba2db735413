"""Celery application.

The broker comes from ``CELERY_BROKER_URL`` (or ``REDIS_URL``); without either the
embedded default is kombu's filesystem transport under ``var/broker`` so the tracker
runs with no server at all. The beat schedule lives in code (``config.settings``).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tracker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
