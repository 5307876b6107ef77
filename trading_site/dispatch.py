"""Handing work to Celery by the task's name: services never import tasks (the tasks import the services), so
there is no import circle between them, and a service can be imported where no worker runs.

``enqueue("trading.run_bot_tick", 42, …)`` looks the task up in Celery's registry (each app's ``tasks.py``,
loaded on first use) and sends it through the task's own ``apply_async``: with the task's options (queue,
``ignore_result``), on commit when called inside a transaction (``TransactionAwareTask``), and inline when
tests run Celery eagerly."""

from __future__ import annotations

from typing import Any

from celery import Task
from celery.exceptions import NotRegistered

from trading_site.celery import app


def task(name: str) -> Task:
    """The registered task called ``name``."""
    try:
        return app.tasks[name]
    except NotRegistered:
        app.loader.import_default_modules()  # every app's tasks.py (autodiscover_tasks), once
        return app.tasks[name]


def enqueue(name: str, *args: Any, **options: Any) -> Any:
    """Send the task ``name`` with positional ``args``; ``options`` go to ``apply_async`` (queue, countdown…)."""
    return task(name).apply_async(args, **options)
