"""The positions and orders pages: close a position, move its stop loss / take profit, cancel an order. Each
htmx action answers with the fragment it changed."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from trading import selectors
from trading.exchanges.errors import ExchangeError
from trading.execution import orders as order_services
from trading.execution import positions as position_services
from trading.models import Order

RECENT_TRADES = 50


def attempt(action: Callable[[], Any]) -> str:
    """Run a service call; the user-facing message of what went wrong, or ""."""
    try:
        action()
    except ValidationError as exc:
        return " ".join(exc.messages)
    except ExchangeError as exc:
        return _("The exchange refused: %(message)s") % {"message": exc.message}
    return ""


def _positions_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {"positions": list(selectors.positions_for_user(user=request.user)), **extra}


def _orders_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {"orders": list(selectors.orders_for_user(user=request.user, status="open")), **extra}


@login_required
@require_GET
def positions(request: HttpRequest) -> HttpResponse:
    context = {
        **_positions_context(request),
        **_orders_context(request),
        "trades": list(selectors.trades_for_user(user=request.user)[:RECENT_TRADES]),
    }
    return render(request, "trading/positions.html", context)


@login_required
@require_GET
def positions_table(request: HttpRequest) -> HttpResponse:
    """The open positions fragment the page polls every few seconds."""
    return render(request, "trading/partials/positions_table.html", _positions_context(request))


def _after(request: HttpRequest, error: str, template: str, context: dict[str, Any]) -> HttpResponse:
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("trading:positions")
    return render(request, template, {**context, "error": error}, status=400 if error else 200)


@login_required
@require_POST
def position_close(request: HttpRequest, position_id: int) -> HttpResponse:
    position = selectors.position_get_for_user(user=request.user, position_id=position_id)
    error = attempt(lambda: position_services.position_close(position=position, source=Order.Source.MANUAL))
    if not error and not request.htmx:
        messages.success(request, _("The position is closed."))
    return _after(request, error, "trading/partials/positions_table.html", _positions_context(request))


class StopsForm(forms.Form):
    stop_loss = forms.DecimalField(label=gettext_lazy("Stop loss"), required=False, min_value=Decimal(0))
    take_profit = forms.DecimalField(label=gettext_lazy("Take profit"), required=False, min_value=Decimal(0))


@login_required
@require_POST
def position_stops(request: HttpRequest, position_id: int) -> HttpResponse:
    """Move the stop loss / take profit (prices); an empty field removes it."""
    position = selectors.position_get_for_user(user=request.user, position_id=position_id)
    form = StopsForm(request.POST)
    if form.is_valid():
        error = attempt(
            lambda: position_services.position_update_sl_tp(
                position=position,
                stop_loss=form.cleaned_data["stop_loss"],
                take_profit=form.cleaned_data["take_profit"],
            )
        )
    else:
        error = " ".join(str(m) for found in form.errors.values() for m in found)
    context = _positions_context(request, error_position=position.pk)
    return _after(request, error, "trading/partials/positions_table.html", context)


@login_required
@require_POST
def order_cancel(request: HttpRequest, order_id: int) -> HttpResponse:
    order = selectors.order_get_for_user(user=request.user, order_id=order_id)
    error = attempt(lambda: order_services.order_cancel(order=order))
    return _after(request, error, "trading/partials/orders_table.html", _orders_context(request))
