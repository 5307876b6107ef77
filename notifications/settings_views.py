"""Settings → Notifications: the user's channels (add e-mail or Slack, link Telegram, turn on browser push, test,
turn off, remove) and what each event type is told where. Every write calls ``notifications.services``."""

from __future__ import annotations

import json
from datetime import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_time
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from notifications import catalog, services
from notifications.models import Channel, Preference

SEVERITIES = [
    (catalog.INFO, gettext_lazy("Info")),
    (catalog.WARNING, gettext_lazy("Warning")),
    (catalog.CRITICAL, gettext_lazy("Critical")),
]


def _errors(error: ValidationError) -> str:
    return " ".join(error.messages)


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    channels = list(Channel.objects.filter(user=request.user))
    preferences = {row.kind: row for row in Preference.objects.filter(user=request.user)}
    default = preferences.get(Preference.ANY)
    kinds = [(Preference.ANY, _("Every other event"), None)] + [
        (kind, entry.label, entry.severity) for kind, entry in catalog.KINDS.items() if kind != "notifications.test"
    ]
    rows = []
    for kind, label, severity in kinds:
        row = preferences.get(kind)
        chosen = row.channels if row is not None else (default.channels if default else list(Channel.Kind.values))
        rows.append(
            {
                "kind": kind,
                "label": label,
                "severity": severity,
                "custom": row is not None,
                "channels": chosen,
                "min_severity": row.min_severity if row else catalog.INFO,
                "quiet_start": row.quiet_start if row else None,
                "quiet_end": row.quiet_end if row else None,
            }
        )
    return {
        "channels": channels,
        "channel_kinds": Channel.Kind.choices,
        "rows": rows,
        "severities": SEVERITIES,
        "telegram_ready": bool(settings.TRENDY_TELEGRAM_BOT_TOKEN),
        "vapid_public_key": settings.TRENDY_VAPID_PUBLIC_KEY,
        **extra,
    }


@login_required
@require_GET
def notification_settings(request: HttpRequest) -> HttpResponse:
    return render(request, "notifications/settings.html", _context(request))


@login_required
@require_POST
def channel_add(request: HttpRequest) -> HttpResponse:
    kind = request.POST.get("kind", "")
    try:
        if kind == Channel.Kind.EMAIL:
            services.channel_email_add(user=request.user, address=request.POST.get("address", ""))
        elif kind == Channel.Kind.SLACK:
            services.channel_slack_add(user=request.user, webhook_url=request.POST.get("webhook_url", ""))
        else:
            raise ValidationError(_("Choose e-mail or Slack."))
    except ValidationError as error:
        messages.error(request, _errors(error))
        return render(request, "notifications/settings.html", _context(request), status=400)
    messages.success(request, _("Channel added."))
    return redirect("notifications:settings")


@login_required
@require_POST
def channel_change(request: HttpRequest, channel_id: int) -> HttpResponse:
    """``action``: on, off, test or remove; another user's channel is not found."""
    if not Channel.objects.filter(pk=channel_id, user=request.user).exists():
        raise Http404
    action = request.POST.get("action", "")
    if action in ("on", "off"):
        services.channel_update(user=request.user, channel_id=channel_id, enabled=action == "on")
    elif action == "remove":
        services.channel_delete(user=request.user, channel_id=channel_id)
        messages.success(request, _("Channel removed."))
    elif action == "test":
        outcome = services.channel_test(user=request.user, channel_id=channel_id)
        if outcome == "sent":
            messages.success(request, _("Test message sent."))
        else:
            channel = Channel.objects.get(pk=channel_id)
            error = channel.disabled_reason or _("the service did not take it; Trendy will try again.")
            messages.error(request, _("The test message was not delivered: %(error)s") % {"error": error})
    else:
        return HttpResponse(_("Unknown action."), status=400)
    return redirect("notifications:settings")


@login_required
@require_POST
def telegram_link(request: HttpRequest) -> HttpResponse:
    try:
        issued = services.telegram_link_start(user=request.user, language=request.LANGUAGE_CODE)
    except ValidationError as error:
        messages.error(request, _errors(error))
        return redirect("notifications:settings")
    return render(request, "notifications/settings.html", _context(request, telegram_code=issued))


@login_required
@require_POST
def webpush_subscribe(request: HttpRequest) -> HttpResponse:
    """The browser's PushSubscription as JSON (sent by static/js/push.js with the CSRF header)."""
    try:
        subscription = json.loads(request.body or b"{}")
        if not isinstance(subscription, dict):
            raise ValueError
        channel = services.channel_webpush_subscribe(
            user=request.user, subscription=subscription, language=request.LANGUAGE_CODE
        )
    except ValueError:
        return JsonResponse({"error": _("Send the subscription as a JSON object.")}, status=400)
    except ValidationError as error:
        return JsonResponse({"error": _errors(error)}, status=400)
    return JsonResponse({"id": channel.pk, "hint": channel.hint}, status=201)


def _time(raw: str) -> time | None:
    """HH:MM, or None when empty; ValueError otherwise."""
    if not raw:
        return None
    parsed = parse_time(raw)
    if parsed is None:
        raise ValueError(raw)
    return parsed


@login_required
@require_POST
def preferences_save(request: HttpRequest) -> HttpResponse:
    """One row per event type shown on the page: those marked ``custom`` are saved, the rest follow "every other
    event" (the default row, always saved)."""
    rows = []
    kinds = [Preference.ANY, *catalog.KINDS]
    try:
        for kind in kinds:
            if kind != Preference.ANY and request.POST.get(f"custom:{kind}") != "on":
                continue
            start, end = (
                _time(request.POST.get(f"quiet_start:{kind}", "")),
                _time(request.POST.get(f"quiet_end:{kind}", "")),
            )
            rows.append(
                {
                    "kind": kind,
                    "channels": request.POST.getlist(f"channels:{kind}"),
                    "min_severity": request.POST.get(f"min_severity:{kind}") or catalog.INFO,
                    "quiet_start": start,
                    "quiet_end": end,
                }
            )
        services.preferences_set(user=request.user, rows=rows, replace_all=True)
    except ValueError:
        messages.error(request, _("Enter quiet hours as HH:MM."))
        return render(request, "notifications/settings.html", _context(request), status=400)
    except ValidationError as error:
        messages.error(request, _errors(error))
        return render(request, "notifications/settings.html", _context(request), status=400)
    messages.success(request, _("Notification preferences saved."))
    return redirect("notifications:settings")


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The web-push service worker, served from the site's root so that its scope is every page."""
    from django.contrib.staticfiles import finders

    path = finders.find("js/push-sw.js")
    if path is None:
        raise Http404
    with open(path, encoding="utf-8") as handle:
        response = HttpResponse(handle.read(), content_type="application/javascript")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response
