"""Every kind of event a user can be told about: its label, default severity, and how it reads.

A registry (healthchecks' ``TRANSPORTS`` idea): the emitters (``accounts.events.emit``) name a kind and pass plain
data; this module turns kind + data into a title and a body in the active language, at display time, so the
same stored notification reads in English for one request and in Korean for the next. A kind nobody
registered still reads (a generic title): an emitter never fails because of this module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from trading_site import display

log = logging.getLogger(__name__)

INFO, WARNING, CRITICAL = "info", "warning", "critical"
SEVERITIES = (INFO, WARNING, CRITICAL)

Render = Callable[[dict[str, Any]], tuple[str, str]]


@dataclass(frozen=True)
class Kind:
    label: Any  # a lazy translation
    severity: str
    render: Render


def _side(side: object) -> str:
    return _("Buy") if side == "buy" else _("Sell") if side == "sell" else str(side or "")


def _quote(data: dict[str, Any]) -> str:
    return display.base_and_quote(str(data.get("symbol") or ""))[1]


def _pnl(data: dict[str, Any]) -> str:
    if data.get("realized_pnl") is None:
        return ""
    return _("Realised PnL: %(pnl)s.") % {"pnl": display.amount(data["realized_pnl"], _quote(data), signed=True)}


def _fill_line(data: dict[str, Any]) -> dict[str, str]:
    base, quote = display.base_and_quote(str(data.get("symbol") or ""))
    return {
        "side": _side(data.get("side")),
        "amount": display.quantity(data.get("amount"), base),
        "symbol": str(data.get("symbol") or ""),
        "price": display.price(data.get("price"), quote),
    }


def _order_filled(data: dict[str, Any]) -> tuple[str, str]:
    line = _fill_line(data)
    title = _("%(side)s %(symbol)s filled") % line
    body = _("%(side)s %(amount)s at %(price)s.") % line
    return title, " ".join(part for part in (body, _pnl(data)) if part)


def _stop_loss_hit(data: dict[str, Any]) -> tuple[str, str]:
    line = _fill_line(data)
    title = _("Stop loss hit on %(symbol)s") % line
    body = _("%(side)s %(amount)s at %(price)s.") % line
    return title, " ".join(part for part in (body, _pnl(data)) if part)


def _take_profit_hit(data: dict[str, Any]) -> tuple[str, str]:
    line = _fill_line(data)
    title = _("Take profit hit on %(symbol)s") % line
    body = _("%(side)s %(amount)s at %(price)s.") % line
    return title, " ".join(part for part in (body, _pnl(data)) if part)


def _order_rejected(data: dict[str, Any]) -> tuple[str, str]:
    line = _fill_line(data)
    title = _("%(side)s %(symbol)s rejected") % line
    return title, str(data.get("reason") or "")


def _bot_status(data: dict[str, Any]) -> tuple[str, str]:
    from_status = {
        "running": _("running"),
        "paused": _("paused"),
        "stopped": _("stopped"),
        "halted": _("halted by a risk limit"),
    }
    status = from_status.get(str(data.get("status")), str(data.get("status") or ""))
    title = _("Bot #%(bot)s is %(status)s") % {"bot": data.get("bot", "?"), "status": status}
    return title, str(data.get("reason") or "")


def _auto_trading(data: dict[str, Any]) -> tuple[str, str]:
    if data.get("enabled"):
        return _("Auto-trading turned on"), _("Your bots may place orders.")
    return _("Auto-trading turned off"), _("Your bots place no new orders; stop loss and take profit orders stay.")


def _bot_sizes(data: dict[str, Any]) -> tuple[str, str]:
    sizes = data.get("sizes") or {}
    body = ", ".join(
        _("bot #%(bot)s: %(size)s") % {"bot": bot, "size": display.percent(size)} for bot, size in sizes.items()
    )
    return _("Bot position sizes changed"), body


def _position_changed_outside(data: dict[str, Any]) -> tuple[str, str]:
    title = _("Position #%(position)s changed on the exchange") % {"position": data.get("position", "?")}
    return title, str(data.get("detail") or "")


def _unprotected_position_closed(data: dict[str, Any]) -> tuple[str, str]:
    title = _("Unprotected position #%(position)s closed") % {"position": data.get("position", "?")}
    return title, _("Its stop loss or take profit could not be placed, so Trendy closed the position.")


def _stop_loss(data: dict[str, Any]) -> tuple[str, str]:
    title = _("Stop loss triggered on position #%(position)s") % {"position": data.get("position", "?")}
    return title, _("The price crossed the stop loss; Trendy closed the position with a market order.")


def _take_profit(data: dict[str, Any]) -> tuple[str, str]:
    title = _("Take profit triggered on position #%(position)s") % {"position": data.get("position", "?")}
    return title, _("The price crossed the take profit; Trendy closed the position with a market order.")


def _subscription_ended(data: dict[str, Any]) -> tuple[str, str]:
    return _("A strategy subscription ended"), _("Your access to the strategy has ended.")


def _new_version(data: dict[str, Any]) -> tuple[str, str]:
    title = _("A new version of a subscribed strategy")
    return title, _("Version %(version)s is out.") % {"version": data.get("version", "?")}


KINDS: dict[str, Kind] = {
    "order_filled": Kind(gettext_lazy("Order filled"), INFO, _order_filled),
    "order_rejected": Kind(gettext_lazy("Order rejected"), WARNING, _order_rejected),
    "stop_loss_hit": Kind(gettext_lazy("Stop loss hit"), WARNING, _stop_loss_hit),
    "take_profit_hit": Kind(gettext_lazy("Take profit hit"), INFO, _take_profit_hit),
    "bot_status": Kind(gettext_lazy("Bot status"), WARNING, _bot_status),
    "auto_trading": Kind(gettext_lazy("Auto-trading"), INFO, _auto_trading),
    "bot_sizes": Kind(gettext_lazy("Bot position sizes"), INFO, _bot_sizes),
    "position_changed_outside": Kind(
        gettext_lazy("Position changed on the exchange"), WARNING, _position_changed_outside
    ),
    "unprotected_position_closed": Kind(
        gettext_lazy("Unprotected position closed"), CRITICAL, _unprotected_position_closed
    ),
    "stop_loss": Kind(gettext_lazy("Stop loss triggered"), WARNING, _stop_loss),
    "take_profit": Kind(gettext_lazy("Take profit triggered"), INFO, _take_profit),
    "marketplace.subscription_ended": Kind(gettext_lazy("Subscription ended"), INFO, _subscription_ended),
    "marketplace.new_version": Kind(gettext_lazy("New strategy version"), INFO, _new_version),
}


def severity(kind: str) -> str:
    entry = KINDS.get(kind)
    return entry.severity if entry is not None else INFO


def label(kind: str) -> str:
    entry = KINDS.get(kind)
    return str(entry.label) if entry is not None else kind


def render(kind: str, data: dict[str, Any]) -> tuple[str, str]:
    """Title and body in the active language. Never raises: an unknown kind, or data a renderer cannot read,
    gives a generic title (and a log line)."""
    entry = KINDS.get(kind)
    if entry is not None:
        try:
            return entry.render(data or {})
        except Exception:
            log.exception("notification render failed", extra={"event_kind": kind})
    return _("Notification: %(kind)s") % {"kind": kind}, ""
