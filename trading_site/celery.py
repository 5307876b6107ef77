"""The Celery app. Tasks live in each app's ``tasks.py`` and are auto-discovered.

Every task enqueues on commit: sent from inside a transaction, it goes to the broker only once
that transaction commits (and never if it rolls back), so a worker never reads a row that is not
committed yet (pretix's ``TransactionAwareTask``).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals
from celery.contrib.django.task import DjangoTask

from trading_site import logging as secrets_filter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")


class TransactionAwareTask(DjangoTask):
    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        from django.db import connection, transaction

        if connection.in_atomic_block:
            # Inside a transaction there is no result to hand back yet: the task is sent on commit.
            transaction.on_commit(lambda: super(TransactionAwareTask, self).apply_async(args, kwargs, **options))
            return None
        return super().apply_async(args, kwargs, **options)


app = Celery("trading_site", task_cls=TransactionAwareTask)
secrets_filter.connect_celery()  # the worker's own log handlers mask secrets too
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _ensure_filesystem_broker_folders() -> None:
    """The embedded file-system broker needs its folders before anyone sends or consumes."""
    from pathlib import Path

    from django.conf import settings

    if settings.CELERY_BROKER_URL == "filesystem://":
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key]).mkdir(parents=True, exist_ok=True)
        Path(settings.CELERY_RESULT_BACKEND.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


app.on_after_configure.connect(lambda sender, **kwargs: _ensure_filesystem_broker_folders(), weak=False)


@signals.task_failure.connect(weak=False)
def _task_failed(sender: Any = None, **kwargs: Any) -> None:
    from trading_site import metrics

    metrics.TASK_FAILURES.labels(getattr(sender, "name", "unknown")).inc()


@signals.task_retry.connect(weak=False)
def _task_retried(sender: Any = None, **kwargs: Any) -> None:
    from trading_site import metrics

    metrics.TASK_RETRIES.labels(getattr(sender, "name", "unknown")).inc()
