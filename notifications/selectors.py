"""Reads of in-app notifications: the user's list, newest first, by keyset (``before`` an id), and the unread
count (the partial index on unread rows)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from notifications.models import Notification

PAGE = 30


def notification_list(*, user: Any, before: int | None = None, unread: bool = False) -> QuerySet[Notification]:
    rows = Notification.objects.filter(user=user).order_by("-id")
    if before is not None:
        rows = rows.filter(pk__lt=before)
    if unread:
        rows = rows.filter(read_at__isnull=True)
    return rows


def notification_page(
    *, user: Any, before: int | None = None, unread: bool = False, size: int | None = None
) -> tuple[list[Notification], int | None]:
    """One page (``size`` rows, ``PAGE`` by default) and the id to pass as ``before`` for the next (older) one, or
    None at the end."""
    size = size or PAGE
    rows = list(notification_list(user=user, before=before, unread=unread)[: size + 1])
    older = rows[size - 1].pk if len(rows) > size else None
    return rows[:size], older


def notification_unread_count(*, user: Any) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
