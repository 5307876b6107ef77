"""Every write of notifications: the listener that stores an event, marking read, the user's channels (e-mail,
Slack, web push, phones, the Telegram link by a one-time code) and preferences. Deliveries are written by
``notifications.delivery``.

Why this file is long: channels, the Telegram link and preferences are one user's settings of one feature, each a
few short functions; split further, each module would import the same helpers (sealing, fingerprints, languages)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from secrets import token_urlsafe
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from accounts import secrets
from accounts.events import Event
from notifications import catalog, stream
from notifications.models import Channel, Delivery, Notification, Preference, TelegramLink

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
    # outside Trendy (e-mail, Telegram, Slack, push): planned by a task, so the emitter waits for no channel (sent
    # on commit when inside a transaction)
    from notifications import tasks

    if Channel.objects.filter(user_id=row.user_id, enabled=True).exists():  # most users: the bell only, no task
        tasks.dispatch.delay(row.pk)
    return row


def notifications_mark_read(*, user: Any, ids: Iterable[int] | None = None) -> int:
    """Mark the user's unread notifications read: those in ``ids`` (other users' ids are ignored), or all when
    ``ids`` is None. Returns how many changed."""
    rows = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    return rows.update(read_at=timezone.now())


# --- channels -----------------------------------------------------------------------------------------------------

TELEGRAM_CODE_TTL = timedelta(minutes=15)
FCM_TOKEN_RE = re.compile(r"[A-Za-z0-9_:\-.]{20,4096}")


def _fingerprint(kind: str, address: str) -> str:
    """Keyed (the server's secret), so a stored fingerprint does not let anyone test guesses of chat ids."""
    return salted_hmac("notifications.Channel.fingerprint", f"{kind}:{address}", algorithm="sha256").hexdigest()


def _seal(channel: Channel, address: str) -> None:
    field = Channel._meta.get_field("address")
    channel.address = secrets.encrypt(address, context=field.context_for(channel.user_id))  # type: ignore[attr-defined]
    channel.fingerprint = _fingerprint(channel.kind, address)


def _language(language: str | None) -> str:
    codes = [code for code, _name in settings.LANGUAGES]
    language = (language or translation.get_language() or "en")[:2]
    return language if language in codes else codes[0]


def _masked_email(address: str) -> str:
    local, _at, domain = address.partition("@")
    return f"{local[:1]}…@{domain}"[:40]


@transaction.atomic
def _channel_save(*, user: Any, kind: str, address: str, hint: str, label: str, language: str | None) -> Channel:
    """Create the channel, or refresh the user's existing one for the same address. A phone, browser or chat
    registered by another account moves to this one (the device now signs in here: the other account's
    messages must stop reaching it)."""
    probe = Channel(user=user, kind=kind)
    _seal(probe, address)
    if kind in Channel.PER_DEVICE:
        Channel.objects.filter(kind=kind, fingerprint=probe.fingerprint).exclude(user=user).delete()
    existing = Channel.objects.select_for_update().filter(user=user, kind=kind, fingerprint=probe.fingerprint).first()
    channel = existing or probe
    if existing is not None:
        _seal(channel, address)  # sealed afresh: the same address, a new nonce
    channel.hint = hint[:40]
    channel.label = (label or channel.label)[:80]
    channel.language = _language(language)
    channel.enabled, channel.disabled_reason, channel.disabled_at = True, "", None
    channel.save()
    return channel


def channel_email_add(*, user: Any, address: str = "", label: str = "", language: str | None = None) -> Channel:
    """E-mail to ``address`` (the account's own address when empty)."""
    address = (address or user.email).strip()
    try:
        validate_email(address)
    except ValidationError:
        raise ValidationError({"address": [_("Enter a valid e-mail address.")]}) from None
    return _channel_save(
        user=user, kind=Channel.Kind.EMAIL, address=address, hint=_masked_email(address), label=label, language=language
    )


def channel_slack_add(*, user: Any, webhook_url: str, label: str = "", language: str | None = None) -> Channel:
    """A Slack incoming webhook: https://hooks.slack.com/services/… only, and (in production) one that resolves to
    a public address — a URL the server would post to must not reach its own network."""
    from accounts.net import private_host
    from notifications.channels.slack import is_slack_url

    url = webhook_url.strip()
    local = settings.TRENDY_NOTIFY_ALLOW_PRIVATE and urlsplit(url).scheme in ("http", "https")
    if not (is_slack_url(url) or local):
        raise ValidationError(
            {"webhook_url": [_("Paste the incoming webhook URL Slack gave you (https://hooks.slack.com/services/…).")]}
        )
    if not settings.TRENDY_NOTIFY_ALLOW_PRIVATE and private_host(url):
        raise ValidationError({"webhook_url": [_("This URL points to a private or loopback address.")]})
    return _channel_save(
        user=user,
        kind=Channel.Kind.SLACK,
        address=url,
        hint=f"Slack …{url.rstrip('/')[-4:]}",
        label=label,
        language=language,
    )


def channel_webpush_subscribe(
    *, user: Any, subscription: dict[str, Any], label: str = "", language: str | None = None
) -> Channel:
    """A browser's PushSubscription (``endpoint`` and ``keys.p256dh``/``keys.auth``, as ``toJSON()`` gives it)."""
    from accounts.net import private_host

    endpoint = str(subscription.get("endpoint") or "") if isinstance(subscription, dict) else ""
    keys = subscription.get("keys") if isinstance(subscription, dict) else None
    if urlsplit(endpoint).scheme != "https" and not settings.TRENDY_NOTIFY_ALLOW_PRIVATE:
        raise ValidationError({"subscription": [_("A push subscription's endpoint is an https URL.")]})
    if not endpoint or not isinstance(keys, dict) or not keys.get("p256dh") or not keys.get("auth"):
        raise ValidationError({"subscription": [_("Send the subscription with its endpoint and keys.")]})
    if not settings.TRENDY_NOTIFY_ALLOW_PRIVATE and private_host(endpoint):
        raise ValidationError({"subscription": [_("This endpoint points to a private or loopback address.")]})
    clean = {"endpoint": endpoint, "keys": {"p256dh": str(keys["p256dh"]), "auth": str(keys["auth"])}}
    host = urlsplit(endpoint).hostname or ""
    return _channel_save(
        user=user, kind=Channel.Kind.WEBPUSH, address=json.dumps(clean), hint=host, label=label, language=language
    )


def device_register(*, user: Any, token: str, label: str = "", language: str | None = None) -> Channel:
    """A phone's FCM registration token. The same token again refreshes the same device; a token another account
    registered moves here (the phone signed in to this account)."""
    token = token.strip()
    if not FCM_TOKEN_RE.fullmatch(token):
        raise ValidationError({"token": [_("This is not an FCM registration token.")]})
    return _channel_save(
        user=user, kind=Channel.Kind.FCM, address=token, hint=f"…{token[-6:]}", label=label, language=language
    )


def channel_update(
    *, user: Any, channel_id: int, enabled: bool | None = None, label: str | None = None, language: str | None = None
) -> Channel:
    """Turn one of the user's channels on or off, rename it, or change its language (another user's: not found)."""
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=channel_id, user=user)
        if enabled is not None:
            channel.enabled = enabled
            channel.disabled_reason, channel.disabled_at = "", None
        if label is not None:
            channel.label = label[:80]
        if language is not None:
            channel.language = _language(language)
        channel.save(update_fields=["enabled", "disabled_reason", "disabled_at", "label", "language"])
    return channel


def channel_delete(*, user: Any, channel_id: int) -> None:
    """Remove one of the user's channels (another user's: not found)."""
    deleted, _details = Channel.objects.filter(pk=channel_id, user=user).delete()
    if not deleted:
        raise Channel.DoesNotExist


def channel_test(*, user: Any, channel_id: int) -> str:
    """Send a test message to one of the user's channels now, through the same path as every message."""
    from notifications import delivery

    channel = Channel.objects.get(pk=channel_id, user=user)
    with transaction.atomic():
        row = Notification.objects.create(user_id=user.pk, kind="notifications.test", severity=catalog.INFO)
        sent = Delivery.objects.create(channel=channel, notification=row)
    return delivery.send(sent.pk)


# --- Telegram ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TelegramCode:
    code: str
    expires_at: datetime
    link: str  # https://t.me/<bot>?start=<code>, or "" without a bot name


def telegram_link_start(*, user: Any, language: str | None = None) -> TelegramCode:
    """A one-time code (15 minutes) the user sends the Trendy bot as ``/start <code>``; shown once, only its hash
    is kept. Earlier unused codes of the user stop working."""
    if not settings.TRENDY_TELEGRAM_BOT_TOKEN:
        raise ValidationError(_("Telegram is not set up on this server."))
    code = token_urlsafe(16)
    now = timezone.now()
    with transaction.atomic():
        TelegramLink.objects.filter(user=user, used_at__isnull=True).delete()
        TelegramLink.objects.create(
            user=user,
            code_hash=hashlib.sha256(code.encode()).hexdigest(),
            expires_at=now + TELEGRAM_CODE_TTL,
            language=_language(language),
        )
    name = settings.TRENDY_TELEGRAM_BOT_NAME
    return TelegramCode(code, now + TELEGRAM_CODE_TTL, f"https://t.me/{name}?start={code}" if name else "")


def telegram_update(update: dict[str, Any]) -> str:
    """Handle one update Telegram sent the bot's webhook. ``/start <code>`` links the chat to the code's user
    (answered in the chat either way); anything else is ignored. Returns what happened, for the log."""
    from notifications import tasks

    message = update.get("message") if isinstance(update, dict) else None
    if not isinstance(message, dict):
        return "ignored"
    chat = message.get("chat") or {}
    chat_id, text = str(chat.get("id") or ""), str(message.get("text") or "").strip()
    if not chat_id or not text.startswith("/start"):
        return "ignored"
    code = text.removeprefix("/start").strip()
    outcome, answer = _telegram_link(chat_id, code)  # in the language of the page that made the code
    tasks.telegram_reply.delay(chat_id, answer)  # on commit (TransactionAwareTask)
    return outcome


@transaction.atomic
def _telegram_link(chat_id: str, code: str) -> tuple[str, str]:
    link = (
        TelegramLink.objects.select_for_update()
        .select_related("user")
        .filter(code_hash=hashlib.sha256(code.encode()).hexdigest())
        .first()
        if code
        else None
    )
    with translation.override(link.language if link is not None else settings.LANGUAGE_CODE):
        return _telegram_answer(link, chat_id, code)


def _telegram_answer(link: TelegramLink | None, chat_id: str, code: str) -> tuple[str, str]:
    if not code:
        return "no code", _("Hello! To link Trendy, open Settings → Notifications and press “Link Telegram”.")
    if link is None:
        return "unknown", _("This code is not one Trendy gave. Create a new one in Settings → Notifications.")
    if link.used_at is not None:
        return "used", _("This code was already used. Create a new one in Settings → Notifications.")
    if link.expires_at <= timezone.now():
        return "expired", _("This code has expired. Create a new one in Settings → Notifications.")
    link.used_at = timezone.now()
    link.save(update_fields=["used_at"])
    _channel_save(
        user=link.user,
        kind=Channel.Kind.TELEGRAM,
        address=chat_id,
        hint=f"chat …{chat_id[-4:]}",
        label="Telegram",
        language=link.language,
    )
    return "linked", _("Linked: Trendy will tell you here about %(email)s's trades.") % {
        "email": _masked_email(link.user.email)
    }


def telegram_reply(chat_id: str, text: str) -> None:
    """Answer a chat from the bot (a failure is logged: the user can send the code again)."""
    from notifications.channels.base import Message, TransportError
    from notifications.channels.telegram import TelegramTransport

    transport = TelegramTransport(
        token=settings.TRENDY_TELEGRAM_BOT_TOKEN, chat_id=chat_id, api_url=settings.TRENDY_TELEGRAM_API_URL
    )
    try:
        transport.send(Message(title="Trendy", body=text))
    except TransportError as exc:
        log.warning("telegram reply not sent: %s", exc.message)


# --- preferences -------------------------------------------------------------------------------------------------


@transaction.atomic
def preferences_set(*, user: Any, rows: list[dict[str, Any]], replace_all: bool = False) -> list[Preference]:
    """Replace the preferences of the kinds in ``rows`` (``replace_all``: and delete the others). Each row:
    ``kind`` (an event kind or "*"), ``channels``, ``min_severity``, ``quiet_start``, ``quiet_end``. All or nothing:
    one bad row saves none."""
    errors: dict[str, list[str]] = {}
    kinds = {*catalog.KINDS, Preference.ANY}
    channel_kinds = set(Channel.Kind.values)
    clean = []
    for index, row in enumerate(rows):
        kind = str(row.get("kind") or "")
        if kind not in kinds:
            errors[f"preferences[{index}].kind"] = [_("Unknown event type: %(kind)s.") % {"kind": kind or "—"}]
            continue
        channels = list(dict.fromkeys(row.get("channels") or []))
        unknown = [str(name) for name in channels if name not in channel_kinds]
        if unknown:
            errors[f"preferences[{index}].channels"] = [
                _("Unknown channel: %(names)s.") % {"names": ", ".join(unknown)}
            ]
        severity = row.get("min_severity") or catalog.INFO
        if severity not in catalog.SEVERITIES:
            errors[f"preferences[{index}].min_severity"] = [_("Choose info, warning or critical.")]
        start, end = row.get("quiet_start"), row.get("quiet_end")
        if (start is None) != (end is None):
            errors[f"preferences[{index}].quiet_end"] = [_("Quiet hours need both a start and an end.")]
        clean.append(
            Preference(user=user, kind=kind, channels=channels, min_severity=severity, quiet_start=start, quiet_end=end)
        )
    if len({row.kind for row in clean}) != len(clean):
        errors["preferences"] = [_("Each event type at most once.")]
    if errors:
        raise ValidationError(errors)
    previous = Preference.objects.filter(user=user)
    if not replace_all:
        previous = previous.filter(kind__in=[row.kind for row in clean])
    previous.delete()
    return Preference.objects.bulk_create(clean)


def preferences_reset(*, user: Any, kinds: list[str] | None = None) -> int:
    """Back to the defaults (every enabled channel, every severity, no quiet hours) for ``kinds``, or for all."""
    rows = Preference.objects.filter(user=user)
    if kinds is not None:
        rows = rows.filter(kind__in=kinds)
    deleted, _details = rows.delete()
    return deleted
