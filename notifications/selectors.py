"""Reads of in-app notifications: the user's list, newest first, by keyset (``before`` an id), and the unread
count (the partial index on unread rows).

The unread page picks its ids in a subquery of their own (``… WHERE id IN (SELECT id … ORDER BY id DESC LIMIT n)``):
with an index on (user, -id) over the unread rows that subquery is an index-only scan that stops at the n-th unread
row, however few unread rows the user has and wherever they are (while ``notif_user_unread`` holds the user
alone, the subquery plans as the single query would). Asked in one query, PostgreSQL walks the user's rows (or the
primary key) newest first and filters out the read ones, which reads every row of a user with none or a few unread
(after "mark all read"): 50-100 ms for 100,000 notifications (benchmarks/notifications_list.py)."""

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
    page = notification_list(user=user, before=before, unread=unread)
    if unread:  # the ids from the partial index alone, then their rows: no walk over read rows
        page = Notification.objects.filter(pk__in=page.values("pk")[: size + 1]).order_by("-id")
    rows = list(page[: size + 1])
    older = rows[size - 1].pk if len(rows) > size else None
    return rows[:size], older


def notification_unread_count(*, user: Any) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
