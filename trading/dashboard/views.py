"""The trader's dashboard: one page, with parts htmx refreshes on their own."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from market_data.views import chart_data
from trading import clock, selectors
from trading.dashboard import chart
from trading.dashboard import selectors as dashboard
from trading_site import display

PARTIALS = {
    "stats": "trading/partials/dashboard_stats.html",
    "positions": "trading/partials/positions_table.html",
    "activity": "trading/partials/dashboard_activity.html",
    "analysis": "trading/partials/dashboard_analysis.html",
}


def _context(request: HttpRequest, part: str | None) -> dict[str, Any]:
    user = request.user
    options = chart.markets(user=user)
    choice = chart.choose(user=user, key=request.GET.get("market"), options=options)
    context: dict[str, Any] = {"choice": choice}
    if part in (None, "stats"):
        context["stats"] = dashboard.stats(user=user)
    if part in (None, "positions"):
        context["positions"] = list(selectors.positions_for_user(user=user).order_by("-opened_at")[:100])
    if part in (None, "activity"):
        context["activity"] = dashboard.activity(user=user)
    if part in (None, "analysis") and choice is not None:
        context["analysis"] = chart.analysis(choice=choice)
    if part is None:
        context["markets"] = options
        context["started"] = dashboard.has_started(user=user)
        context["resume_links"] = dashboard.resume_links(user=user) if context["started"] else []
        context["charts"] = {
            "market": chart.chart(user=user, choice=choice, chart_data=chart_data) if choice else None,
            "equity": dashboard.equity_curve(user=user),
            # The charts draw the user's wall clock (times are shifted server-side): the caption names the zone.
            "zone": display.zone_name(clock.now()),
        }
    return context


@login_required
@require_GET
def dashboard_page(request: HttpRequest) -> HttpResponse:
    part = request.GET.get("part")
    if part in PARTIALS and request.htmx:
        return render(request, PARTIALS[part], _context(request, part))
    return render(request, "trading/dashboard.html", _context(request, None))
