"""The Celery app. Tasks live in each app's ``tasks.py`` and are auto-discovered.

Tasks subclass Celery's ``DjangoTask``: call ``task.delay_on_commit(...)`` from services so a
worker never reads a row that is not committed yet.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")

app = Celery("trading_site", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
