"""Celery tasks of notifications: plan a notification's deliveries, send one delivery, flush the digests, answer
a Telegram chat. Each only calls ``notifications.delivery`` or ``notifications.services``."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="notifications.dispatch", ignore_result=True)
def dispatch(notification_id: int) -> list[int]:
    from notifications import delivery

    return delivery.dispatch(notification_id)


@shared_task(name="notifications.send", ignore_result=True, time_limit=120, soft_time_limit=100)
def send(delivery_id: int) -> str:
    from notifications import delivery

    return delivery.send(delivery_id)


@shared_task(name="notifications.flush_digests", ignore_result=True)
def flush_digests() -> list[int]:
    from notifications import delivery

    return delivery.flush_digests()


@shared_task(name="notifications.telegram_reply", ignore_result=True, time_limit=60, soft_time_limit=50)
def telegram_reply(chat_id: str, text: str) -> None:
    from notifications import services

    services.telegram_reply(chat_id, text)
