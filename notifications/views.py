"""The bell (an htmx-refreshed unread count in the header) and the list page, with mark read."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from notifications import selectors, services


def _before(request: HttpRequest) -> int | None:
    raw = request.GET.get("before", "")
    return int(raw) if raw.isdigit() else None


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    rows, older = selectors.notification_page(user=request.user, before=_before(request))
    context = {"notifications": rows, "older": older, "unread": selectors.notification_unread_count(user=request.user)}
    return render(request, "notifications/list.html", context)


@login_required
@require_GET
def bell(request: HttpRequest) -> HttpResponse:
    return render(
        request, "notifications/partials/bell.html", {"unread": selectors.notification_unread_count(user=request.user)}
    )


@login_required
@require_POST
def mark_read(request: HttpRequest) -> HttpResponse:
    """``id`` (one or more) marks those of the user's notifications read; none marks them all."""
    ids = [int(raw) for raw in request.POST.getlist("id") if raw.isdigit()]
    services.notifications_mark_read(user=request.user, ids=ids or None)
    return redirect("notifications:list")
