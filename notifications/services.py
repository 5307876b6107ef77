"""Every write of in-app notifications: the listener that stores an event, and marking read."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from accounts.events import Event
from notifications import catalog, stream
from notifications.models import Notification

log = logging.getLogger(__name__)


def notification_create(event: Event) -> Notification:
    """The ``accounts.events`` listener: one INSERT. An unknown kind is stored all the same (generic title)."""
    if event.kind not in catalog.KINDS:
        log.warning("unknown notification kind", extra={"event_kind": event.kind, "user_id": event.user_id})
    row = Notification.objects.create(
        user_id=event.user_id, kind=event.kind[:64], severity=catalog.severity(event.kind), data=event.data
    )
    # the bell of the user's open pages and the app: the new row (its text is read in the reader's language)
    stream.publish(row.user_id, "notification", {"id": row.pk, "kind": row.kind, "severity": row.severity})
    return row


def notifications_mark_read(*, user: Any, ids: Iterable[int] | None = None) -> int:
    """Mark the user's unread notifications read: those in ``ids`` (other users' ids are ignored), or all when
    ``ids`` is None. Returns how many changed."""
    rows = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    return rows.update(read_at=timezone.now())
