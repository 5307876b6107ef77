"""Thin Celery tasks: take ids, call a service."""

from __future__ import annotations

from celery import shared_task

from trading.exchanges.errors import TemporaryError


@shared_task(
    name="webhooks.process_event",
    autoretry_for=(TemporaryError,),
    retry_backoff=1,
    retry_backoff_max=20,
    max_retries=5,
    acks_late=True,
    # The outcome is the event's row. Without a result, publishing skips the Redis result backend's
    # per-task SUBSCRIBE in the web process (a round trip per alert, and subscriptions that pile up).
    ignore_result=True,
)
def process_webhook_event(event_id: int) -> str:
    from webhooks.services import event_process

    return event_process(event_id=event_id)


@shared_task(name="webhooks.sweep_events")
def sweep_webhook_events() -> int:
    """Accepted alerts no task picked up (the broker restarted): enqueue them again."""
    from webhooks.services import events_sweep

    return events_sweep()


@shared_task(name="webhooks.prune_refused_events")
def prune_refused_events() -> int:
    """Refused events older than TRENDY_WEBHOOK_REFUSED_RETENTION_DAYS: deleted (daily)."""
    from webhooks.services import refused_events_prune

    return refused_events_prune()
