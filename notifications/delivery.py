"""Telling a user outside Trendy: which channels a notification goes to, when, and how each try is recorded.

A notification is stored in-app first (``services.notification_create``); ``dispatch`` (a Celery task per
notification, so the trading process that emitted it waits for no channel) then plans one ``Delivery`` per channel
the user's preferences select:

- **now**: the channel's first message in ``TRENDY_NOTIFY_DIGEST_WINDOW`` seconds, and every critical one;
- **held** for a digest: later messages inside that window (a burst of 100 fills is one message plus one digest,
  not 100), and non-critical messages in the preference's quiet hours (held until they end). ``flush_digests`` (beat,
  every 15 s) sends each channel's held deliveries that are due as one digest.

``send`` (a Celery task per delivery) claims the row with a conditional UPDATE, so a task delivered twice sends
once; records a ``DeliveryAttempt``; retries a temporary failure with exponential backoff (``backoff``) up to
``TRENDY_NOTIFY_MAX_ATTEMPTS``; and turns the channel off after a permanent one (a revoked token, a blocked bot, a
push subscription gone), telling the user in-app.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import ngettext

from accounts import events, secrets
from notifications import catalog
from notifications.channels.base import Message, Transport, TransportError
from notifications.models import Channel, Delivery, DeliveryAttempt, Notification, Preference
from trading_site import metrics

log = logging.getLogger(__name__)

RANK = {catalog.INFO: 0, catalog.WARNING: 1, catalog.CRITICAL: 2}
MAX_WAIT = 3600.0  # seconds: the longest pause between two attempts
DIGEST_LINES = 10


# --- planning -----------------------------------------------------------------------------------------------------


def quiet_until(start: clock | None, end: clock | None, local_now: datetime) -> datetime | None:
    """When the quiet hours ``start``–``end`` (local times; overnight when start > end) around ``local_now`` end, or
    None when ``local_now`` is outside them."""
    if start is None or end is None or start == end:
        return None
    now = local_now.time().replace(tzinfo=None)
    inside = start <= now < end if start < end else now >= start or now < end
    if not inside:
        return None
    until = datetime.combine(local_now.date(), end, tzinfo=local_now.tzinfo)
    return until if until > local_now else until + timedelta(days=1)


@dataclass(frozen=True)
class Route:
    channel: Channel
    hold_until: datetime | None  # quiet hours: not before this


def routes(
    notification: Notification, *, channels: list[Channel], preferences: dict[str, Preference], tz: str
) -> list[Route]:
    """The channels a notification goes to, by the preference for its kind (or "*"): none below its minimum
    severity; only the chosen channel kinds; held in quiet hours unless critical. With no preference, every
    enabled channel, at once."""
    preference = preferences.get(notification.kind) or preferences.get(Preference.ANY)
    chosen = [channel for channel in channels if channel.enabled]
    hold = None
    if preference is not None:
        if RANK.get(notification.severity, 0) < RANK.get(preference.min_severity, 0):
            return []
        chosen = [channel for channel in chosen if channel.kind in preference.channels]
        if notification.severity != catalog.CRITICAL:
            hold = quiet_until(preference.quiet_start, preference.quiet_end, timezone.now().astimezone(ZoneInfo(tz)))
    return [Route(channel, hold) for channel in chosen]


def dispatch(notification_id: int) -> list[int]:
    """Plan the deliveries of one notification (the task ``notifications.dispatch``); the ones to send now are
    queued on commit. Returns the new deliveries' ids."""
    notification = Notification.objects.select_related("user").filter(pk=notification_id).first()
    if notification is None:
        return []
    channels = list(Channel.objects.filter(user_id=notification.user_id, enabled=True))
    if not channels:
        return []
    preferences = {
        row.kind: row
        for row in Preference.objects.filter(user_id=notification.user_id, kind__in=[notification.kind, Preference.ANY])
    }
    made = []
    for route in routes(notification, channels=channels, preferences=preferences, tz=notification.user.timezone):
        made.append(_plan(notification, route))
    return made


def _plan(notification: Notification, route: Route) -> int:
    from notifications import tasks

    window = timedelta(seconds=settings.TRENDY_NOTIFY_DIGEST_WINDOW)
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=route.channel.pk)  # one planner per channel at a time
        now = timezone.now()
        if route.hold_until is not None:
            delivery = Delivery.objects.create(
                channel=channel, notification=notification, status=Delivery.Status.HELD, not_before=route.hold_until
            )
        elif notification.severity != catalog.CRITICAL and channel.window_until and now < channel.window_until:
            delivery = Delivery.objects.create(
                channel=channel, notification=notification, status=Delivery.Status.HELD, not_before=channel.window_until
            )
        else:
            delivery = Delivery.objects.create(channel=channel, notification=notification)
            Channel.objects.filter(pk=channel.pk).update(window_until=now + window)
            tasks.send.delay(delivery.pk)  # sent on commit (TransactionAwareTask)
    return delivery.pk


def flush_digests(now: datetime | None = None) -> list[int]:
    """Turn each channel's held deliveries that are due into one digest delivery and queue it (the beat task
    ``notifications.flush_digests``). Returns the digests' ids."""
    from notifications import tasks

    now = now or timezone.now()
    window = timedelta(seconds=settings.TRENDY_NOTIFY_DIGEST_WINDOW)
    due = (
        Delivery.objects.filter(status=Delivery.Status.HELD, not_before__lte=now)
        .values_list("channel_id", flat=True)
        .distinct()
    )
    made = []
    for channel_id in list(due):
        with transaction.atomic():
            channel = Channel.objects.select_for_update().filter(pk=channel_id).first()
            if channel is None:
                continue
            held = list(
                Delivery.objects.select_for_update(skip_locked=True)
                .filter(channel=channel, status=Delivery.Status.HELD, not_before__lte=now)
                .values_list("pk", flat=True)
            )
            if not held:
                continue
            if not channel.enabled:
                Delivery.objects.filter(pk__in=held).update(status=Delivery.Status.SKIPPED)
                continue
            if len(held) == 1:  # one message waited: it goes as itself
                Delivery.objects.filter(pk=held[0]).update(status=Delivery.Status.PENDING)
                pk = held[0]
            else:
                pk = Delivery.objects.create(channel=channel).pk
                Delivery.objects.filter(pk__in=held).update(status=Delivery.Status.GROUPED, digest_id=pk)
            Channel.objects.filter(pk=channel.pk).update(window_until=now + window)
            tasks.send.delay(pk)  # on commit
            made.append(pk)
    return made


# --- the message ----------------------------------------------------------------------------------------------


def site_url(path: str) -> str:
    return settings.TRENDY_SITE_URL.rstrip("/") + path


def compose(delivery: Delivery) -> Message:
    """The message in the channel's language: the notification's title and body, or a digest of the grouped ones
    (their count by kind and the first titles)."""
    url = site_url(reverse("notifications:list"))
    with translation.override(delivery.channel.language):
        if delivery.notification is not None:
            notification = delivery.notification
            title, body = catalog.render(notification.kind, notification.data)
            data = {"notification": str(notification.pk), "kind": notification.kind}
            return Message(title=title, body=body, url=url, severity=notification.severity, data=data)
        rows = list(
            Notification.objects.filter(deliveries__digest=delivery).order_by("id").only("kind", "severity", "data")
        )
        count = len(rows)
        title = ngettext("%(count)d notification", "%(count)d notifications", count) % {"count": count}
        kinds = Counter(catalog.label(row.kind) for row in rows)
        summary = ", ".join(f"{label} × {n}" for label, n in kinds.most_common())
        lines = [f"• {catalog.render(row.kind, row.data)[0]}" for row in rows[-DIGEST_LINES:]]
        if count > DIGEST_LINES:
            more = count - DIGEST_LINES
            lines.insert(0, ngettext("…and %(more)d earlier", "…and %(more)d earlier", more) % {"more": more})
        severity = max((row.severity for row in rows), key=lambda s: RANK.get(s, 0), default=catalog.INFO)
        body = "\n".join([summary, *lines])
        return Message(title=title, body=body, url=url, severity=severity, data={"digest": str(count)})


# --- sending ----------------------------------------------------------------------------------------------------


def opened_address(channel: Channel) -> str:
    """The channel's sealed address, opened for its transport only: never log, render or return it."""
    field = Channel._meta.get_field("address")
    return secrets.decrypt(channel.address, context=field.context_for(channel.user_id))  # type: ignore[attr-defined]


def transport_for(channel: Channel) -> Transport:
    """The channel's transport with the server's credentials. Raises TransportError (temporary) when the server
    has no credentials for this kind of channel: the operator's fault, not the channel's."""
    address = opened_address(channel)
    if channel.kind == Channel.Kind.EMAIL:
        from notifications.channels.email import EmailTransport

        return EmailTransport(address=address)
    if channel.kind == Channel.Kind.SLACK:
        from accounts.net import private_host
        from notifications.channels.slack import SlackTransport

        if not settings.TRENDY_NOTIFY_ALLOW_PRIVATE and private_host(address):
            raise TransportError("The Slack webhook's address is not a public one.", permanent=True)
        return SlackTransport(webhook_url=address)
    if channel.kind == Channel.Kind.TELEGRAM:
        from notifications.channels.telegram import TelegramTransport

        if not settings.TRENDY_TELEGRAM_BOT_TOKEN:
            raise TransportError("This server has no Telegram bot (TRENDY_TELEGRAM_BOT_TOKEN).")
        return TelegramTransport(
            token=settings.TRENDY_TELEGRAM_BOT_TOKEN, chat_id=address, api_url=settings.TRENDY_TELEGRAM_API_URL
        )
    if channel.kind == Channel.Kind.WEBPUSH:
        from notifications.channels.webpush import WebPushTransport

        if not settings.TRENDY_VAPID_PRIVATE_KEY:
            raise TransportError("This server has no VAPID key (TRENDY_VAPID_PRIVATE_KEY).")
        return WebPushTransport(
            subscription=json.loads(address),
            vapid_private_key=settings.TRENDY_VAPID_PRIVATE_KEY,
            vapid_subject=settings.TRENDY_VAPID_SUBJECT,
        )
    if channel.kind == Channel.Kind.FCM:
        from notifications.channels.fcm import FcmTransport

        account = fcm_account()
        if account is None:
            raise TransportError("This server has no FCM service account (TRENDY_FCM_SERVICE_ACCOUNT).")
        return FcmTransport(device_token=address, account=account, api_url=settings.TRENDY_FCM_API_URL)
    raise TransportError(f"Unknown channel kind {channel.kind}.", permanent=True)


def fcm_account() -> Any:
    from pathlib import Path

    from notifications.channels.fcm import ServiceAccount

    raw = settings.TRENDY_FCM_SERVICE_ACCOUNT.strip()
    if not raw:
        return None
    if not raw.startswith("{"):
        raw = Path(raw).read_text()
    return ServiceAccount.from_json(raw)


def backoff(attempt: int, *, base: float, retry_after: float | None = None, jitter: float = 0.2) -> float:
    """Seconds to wait after the ``attempt``-th failed try: ``base``·2^(attempt−1) with ±``jitter`` (so a
    service's outage does not bring every retry back at the same second), at least the service's Retry-After, at
    most an hour."""
    wait = base * 2 ** max(0, attempt - 1)
    wait *= 1 + random.uniform(-jitter, jitter)  # noqa: S311 (spreading retries, not a secret)
    if retry_after is not None:
        wait = max(wait, retry_after)
    return min(wait, MAX_WAIT)


def send(delivery_id: int) -> str:
    """One try of one delivery (the task ``notifications.send``). Returns the outcome."""
    from notifications import tasks

    claimed = Delivery.objects.filter(
        pk=delivery_id, status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING]
    ).update(status=Delivery.Status.SENDING, attempts=F("attempts") + 1)
    if not claimed:
        return "skipped"  # sent, failed, or being sent by another worker: never twice
    delivery = Delivery.objects.select_related("channel", "notification").get(pk=delivery_id)
    channel = delivery.channel
    if not channel.enabled:
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.SKIPPED)
        metrics.NOTIFICATION_DELIVERIES.labels(channel.kind, "skipped").inc()
        return "skipped"
    started_at, started = timezone.now(), time.monotonic()
    error: TransportError | None = None
    try:
        transport_for(channel).send(compose(delivery))
    except TransportError as exc:
        error = exc
    except Exception as exc:  # a transport bug: recorded and retried like a temporary failure
        log.exception("notification transport failed", extra={"channel_kind": channel.kind})
        error = TransportError(f"Unexpected error ({type(exc).__name__}).")
    duration_ms = int((time.monotonic() - started) * 1000)
    metrics.NOTIFICATION_SEND.labels(channel.kind).observe(time.monotonic() - started)
    if error is None:
        outcome = DeliveryAttempt.Outcome.SENT
    else:
        outcome = DeliveryAttempt.Outcome.PERMANENT if error.permanent else DeliveryAttempt.Outcome.TEMPORARY
    text = error.message[:300] if error else ""
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            started_at=started_at,
            duration_ms=duration_ms,
            outcome=outcome,
            error=text,
        )
        if error is None:
            Delivery.objects.filter(pk=delivery.pk).update(
                status=Delivery.Status.SENT, sent_at=timezone.now(), last_error=""
            )
            Channel.objects.filter(pk=channel.pk).update(last_sent_at=timezone.now())
            metrics.NOTIFICATION_DELIVERIES.labels(channel.kind, "sent").inc()
            return outcome
        if error.permanent:
            Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED, last_error=text)
            channel_disable(channel, reason=text)
            metrics.NOTIFICATION_DELIVERIES.labels(channel.kind, "failed").inc()
            return outcome
        if delivery.attempts >= settings.TRENDY_NOTIFY_MAX_ATTEMPTS:
            Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED, last_error=text)
            metrics.NOTIFICATION_DELIVERIES.labels(channel.kind, "failed").inc()
            return outcome
        wait = backoff(delivery.attempts, base=settings.TRENDY_NOTIFY_RETRY_BASE, retry_after=error.retry_after)
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.RETRYING, last_error=text)
        tasks.send.apply_async((delivery.pk,), countdown=wait)  # on commit
        metrics.NOTIFICATION_DELIVERIES.labels(channel.kind, "retrying").inc()
    return outcome


def channel_disable(channel: Channel, *, reason: str) -> None:
    """Turn a channel off after a permanent failure: its waiting deliveries are skipped and the user is told
    in-app (and on their other channels)."""
    with transaction.atomic():
        changed = Channel.objects.filter(pk=channel.pk, enabled=True).update(
            enabled=False, disabled_reason=reason[:300], disabled_at=timezone.now()
        )
        Delivery.objects.filter(
            channel=channel, status__in=[Delivery.Status.PENDING, Delivery.Status.HELD, Delivery.Status.RETRYING]
        ).update(status=Delivery.Status.SKIPPED)
        if changed:
            events.emit(
                channel.user_id,
                "notifications.channel_disabled",
                channel=channel.pk,
                channel_kind=channel.kind,
                error=reason[:300],
            )
    log.warning("notification channel turned off", extra={"channel_kind": channel.kind, "user_id": channel.user_id})


def deliveries_retry(ids: list[int]) -> int:
    """Staff send failed deliveries again (a channel that is off stays off: those are left as they are)."""
    from notifications import tasks

    rows = list(
        Delivery.objects.filter(pk__in=ids, status=Delivery.Status.FAILED, channel__enabled=True).values_list(
            "pk", flat=True
        )
    )
    Delivery.objects.filter(pk__in=rows).update(status=Delivery.Status.PENDING, attempts=0)
    for pk in rows:
        tasks.send.delay(pk)
    return len(rows)
