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


def _filled_as(data: dict[str, Any], title: str, body: str) -> tuple[str, str]:
    """A fill's message: ``title`` and ``body`` (translated templates of its side, amount, symbol and price), then
    its realised PnL when it closed something."""
    line = _fill_line(data)
    return title % line, " ".join(part for part in (body % line, _pnl(data)) if part)


def _order_filled(data: dict[str, Any]) -> tuple[str, str]:
    return _filled_as(data, _("%(side)s %(symbol)s filled"), _("%(side)s %(amount)s at %(price)s."))


def _stop_loss_hit(data: dict[str, Any]) -> tuple[str, str]:
    return _filled_as(data, _("Stop loss hit on %(symbol)s"), _("%(side)s %(amount)s at %(price)s."))


def _take_profit_hit(data: dict[str, Any]) -> tuple[str, str]:
    return _filled_as(data, _("Take profit hit on %(symbol)s"), _("%(side)s %(amount)s at %(price)s."))


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


def _channel_disabled(data: dict[str, Any]) -> tuple[str, str]:
    from_kind = {
        "email": _("E-mail"),
        "telegram": "Telegram",
        "slack": "Slack",
        "webpush": _("Browser push"),
        "fcm": _("Mobile push"),
    }
    name = from_kind.get(str(data.get("channel_kind")), str(data.get("channel_kind") or ""))
    title = _("%(channel)s notifications turned off") % {"channel": name}
    body = _("The last message could not be delivered: %(error)s Check the channel's settings and turn it on again.")
    return title, body % {"error": str(data.get("error") or "")}


# --- more events (issue 19): liquidations and forced closes, halts, failing keys, webhook refusals, the daily
# summary, strategy drift, marketplace subscriptions ending and creators' sales.


def _bot_name(data: dict[str, Any]) -> str:
    return str(data.get("name") or "") or f"#{data.get('bot', '?')}"


def _position_liquidated(data: dict[str, Any]) -> tuple[str, str]:
    return _filled_as(
        data,
        _("%(symbol)s position liquidated"),
        _("The exchange closed %(amount)s at %(price)s: the loss reached the position's margin."),
    )


def _position_force_closed(data: dict[str, Any]) -> tuple[str, str]:
    return _filled_as(
        data,
        _("%(symbol)s position closed by a risk limit"),
        _("Trendy closed %(amount)s at %(price)s because the bot reached a risk limit."),
    )


def _drawdown_halt(data: dict[str, Any]) -> tuple[str, str]:
    values = {
        "bot": _bot_name(data),
        "drawdown": display.percent(data.get("drawdown", data.get("loss")), 1),
        "limit": display.percent(data.get("limit"), 1),
    }
    if data.get("code") == "daily_loss":
        title = _("Bot %(bot)s halted: daily loss limit") % values
        body = _("Today's loss of %(drawdown)s is beyond the bot's daily limit of %(limit)s.") % values
    else:
        title = _("Bot %(bot)s halted: drawdown limit") % values
        body = _("The account fell %(drawdown)s below its peak, beyond the bot's limit of %(limit)s.") % values
    after = _("Its position was closed; it places no new order until you start it again.")
    return title, f"{body} {after}"


def _bot_error(data: dict[str, Any]) -> tuple[str, str]:
    causes = {
        "keys_rejected": _("The exchange rejected the API keys."),
        "keys_unusable": _("The API keys contain a character that cannot be sent."),
        "keys_unreadable": _("The stored API keys cannot be opened."),
        "unknown_symbol": _("The exchange does not list the bot's market."),
        "insufficient_funds": _("There were not enough funds for the bot's order."),
        "order_refused": _("The exchange refused the bot's order."),
        "exchange_refused": _("The exchange refused the bot's request."),
        "exchange_unavailable": _("The exchange failed to answer several times in a row."),
        "strategy_failed": _("The strategy could not run on a closed candle."),
    }
    title = _("Bot %(bot)s stopped by an error") % {"bot": _bot_name(data)}
    parts = [causes.get(str(data.get("code")), _("The bot met an error it cannot retry."))]
    if data.get("error"):
        parts.append(_("Error: %(error)s") % {"error": data["error"]})
    parts.append(_("Fix the cause, then start the bot again."))
    return title, " ".join(parts)


def _exchange_key_failing(data: dict[str, Any]) -> tuple[str, str]:
    values = {"account": str(data.get("label") or data.get("account") or "?"), "exchange": data.get("exchange", "")}
    title = _("The API keys of %(account)s are failing") % values
    body = _("%(exchange)s refused the account's API keys, so Trendy cannot trade on it.") % values
    parts = [body]
    if data.get("error"):
        parts.append(_("Error: %(error)s") % {"error": data["error"]})
    parts.append(_("Check the keys on the API keys page and run the connection test; the bots on it stay halted."))
    return title, " ".join(parts)


def _webhook_rejected(data: dict[str, Any]) -> tuple[str, str]:
    from django.utils.translation import ngettext

    reasons = {
        "bad_secret": _("The alert's secret is wrong."),
        "missing_secret": _("The alert has no secret."),
        "rate_limited": _("More alerts arrived in a minute than the webhook allows."),
        "auto_trading_off": _("Auto-trading is off."),
        "account_paused": _("The exchange account is disabled."),
        "paper_only": _("The webhook may not trade live."),
        "unknown_symbol": _("The alert's market cannot be traded on this webhook."),
        "ip_not_allowed": _("The request did not come from TradingView's addresses."),
    }
    title = _("TradingView alert refused by webhook “%(name)s”") % {
        "name": data.get("name") or data.get("webhook", "?")
    }
    parts = [reasons.get(str(data.get("reason")), str(data.get("message") or data.get("reason") or ""))]
    more = int(data.get("more") or 0)
    if more > 0:
        parts.append(
            ngettext(
                "%(count)d more alert was refused in the minute before.",
                "%(count)d more alerts were refused in the minute before.",
                more,
            )
            % {"count": more}
        )
    parts.append(_("The alert log of the webhook shows each one."))
    return title, " ".join(part for part in parts if part)


def _daily_summary(data: dict[str, Any]) -> tuple[str, str]:
    values = {
        "pnl": display.amount(data.get("realized_pnl") or 0, signed=True),
        "trades": int(data.get("trades") or 0),
        "drawdown": display.percent(data.get("max_drawdown_pct"), 1) if data.get("max_drawdown_pct") else "—",
    }
    title = _("Your last 24 hours: %(pnl)s") % values
    body = _("Realised PnL %(pnl)s over %(trades)s trades; largest drawdown %(drawdown)s.") % values
    lines = [
        _("%(account)s: %(pnl)s, %(trades)s trades")
        % {
            "account": row.get("label", "?"),
            "pnl": display.amount(row.get("realized_pnl") or 0, signed=True),
            "trades": int(row.get("trades") or 0),
        }
        for row in (data.get("accounts") or [])
        if isinstance(row, dict)
    ]
    return title, " ".join([body, *(f"{line}." for line in lines)])


def _strategy_drift(data: dict[str, Any]) -> tuple[str, str]:
    values = {
        "bot": _bot_name(data),
        "live": display.percent(data.get("live_win_rate_pct"), 1),
        "trades": data.get("live_trades", "?"),
        "expected": display.percent(data.get("backtest_win_rate_pct"), 1),
        "z": display.number(data.get("z"), 1, signed=True),
    }
    title = _("Bot %(bot)s drifts from its backtest") % values
    body = (
        _(
            "Its live win rate is %(live)s over %(trades)s closed trades, against %(expected)s in the backtest of "
            "the same strategy and parameters: %(z)s standard errors away (Trendy tells you beyond 3, at most once "
            "a week). The market may have changed: review the bot or backtest it again."
        )
        % values
    )
    return title, body


def _subscription_ending(data: dict[str, Any]) -> tuple[str, str]:
    from datetime import datetime

    try:
        ends = display.day(datetime.fromisoformat(str(data.get("expires_at"))))
    except ValueError:
        ends = str(data.get("expires_at") or "?")
    values = {"listing": data.get("listing_name") or data.get("listing", "?"), "date": ends}
    title = _("Your subscription to %(listing)s ends soon") % values
    body = (
        _("Your access ends on %(date)s and does not renew. Bots running the strategy then open no new position.")
        % values
    )
    return title, body


def _sale(data: dict[str, Any]) -> tuple[str, str]:
    values = {
        "listing": data.get("listing_name") or data.get("listing", "?"),
        "amount": display.amount(data.get("amount"), "USD"),
        "share": display.amount(data.get("creator_amount"), "USD"),
    }
    title = _("A sale of %(listing)s") % values
    return title, _("A trader paid %(amount)s; your share is %(share)s.") % values


def _test(data: dict[str, Any]) -> tuple[str, str]:
    return _("Test message from Trendy"), _("This channel works: Trendy's notifications will arrive here.")


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
    "notifications.test": Kind(gettext_lazy("Test message"), INFO, _test),
    "notifications.channel_disabled": Kind(gettext_lazy("Notification channel turned off"), WARNING, _channel_disabled),
    "position_liquidated": Kind(gettext_lazy("Position liquidated"), CRITICAL, _position_liquidated),
    "position_force_closed": Kind(gettext_lazy("Position closed by a risk limit"), WARNING, _position_force_closed),
    "drawdown_halt": Kind(gettext_lazy("Bot halted by a loss limit"), CRITICAL, _drawdown_halt),
    "bot_error": Kind(gettext_lazy("Bot stopped by an error"), CRITICAL, _bot_error),
    "exchange_key_failing": Kind(gettext_lazy("Exchange API keys failing"), CRITICAL, _exchange_key_failing),
    "webhook_rejected": Kind(gettext_lazy("TradingView alert refused"), WARNING, _webhook_rejected),
    "daily_summary": Kind(gettext_lazy("Daily summary"), INFO, _daily_summary),
    "strategy_drift": Kind(gettext_lazy("Strategy drifting from its backtest"), WARNING, _strategy_drift),
    "marketplace.subscription_ending": Kind(gettext_lazy("Subscription ending soon"), WARNING, _subscription_ending),
    "marketplace.sale": Kind(gettext_lazy("Strategy sale"), INFO, _sale),
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
