"""What the trading screens call things: sides, order types, exit reasons, why a bot stopped, and the
sentences of the activity feed, in the reader's language. Values stay the identifiers the engine, the API and
the database use; only what a trader reads is translated here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from strategies.interface import render
from trading_site import display

SIDES = {"buy": gettext_lazy("Buy"), "sell": gettext_lazy("Sell")}

ORDER_TYPES = {
    "market": pgettext_lazy("order type", "Market"),
    "limit": pgettext_lazy("order type", "Limit"),
    "stop_market": pgettext_lazy("order type", "Stop (market)"),
    "take_profit": pgettext_lazy("order type", "Take profit (limit)"),
}

EXIT_REASONS = {
    "signal": gettext_lazy("Strategy signal"),
    "reversal": gettext_lazy("Reversal"),
    "stop_loss": gettext_lazy("Stop loss"),
    "take_profit": gettext_lazy("Take profit"),
    "liquidation": gettext_lazy("Liquidation"),
    "end": gettext_lazy("End of the test"),
    "manual": gettext_lazy("Closed by you"),
    "risk_halt": gettext_lazy("Closed by a risk limit"),
    "outside": gettext_lazy("Closed on the exchange, outside Trendy"),
}


def side(value: str) -> str:
    return str(SIDES.get(value, value))


def order_type(value: str) -> str:
    return str(ORDER_TYPES.get(value, value))


def exit_reason(value: str) -> str:
    return str(EXIT_REASONS.get(value, value)) if value else ""


# --- why a bot stopped ------------------------------------------------------------------------------------
# A halt's reason is stored as a code with its figures (Bot.status_detail) and written out when it is shown,
# so a Korean page reads Korean whatever language the worker that halted the bot ran in.


def status_reason(code: str, data: dict[str, Any]) -> str:
    if code == "drawdown":
        return _("The account fell %(drawdown)s below its peak, beyond the bot's limit of %(limit)s.") % {
            "drawdown": display.percent(data.get("drawdown"), 1),
            "limit": display.percent(data.get("limit"), 1),
        }
    if code == "daily_loss":
        return _("Today's loss of %(loss)s is beyond the bot's daily limit of %(limit)s.") % {
            "loss": display.percent(data.get("loss"), 1),
            "limit": display.percent(data.get("limit"), 1),
        }
    if code == "keys_rejected":
        return _("The exchange rejected the API keys. Check them on the API keys page, then start the bot again.")
    if code == "keys_unusable":
        return _(
            "The exchange account's API key, secret or passphrase contains a character that is not printable ASCII "
            "(such as an invisible space copied from a web page), so it cannot be sent. Add the account again with "
            "the keys copied exactly, then start the bot again."
        )
    if code == "keys_unreadable":
        return _("The exchange account's stored keys cannot be opened. Add the account again with its keys.")
    if code == "unknown_symbol":
        return _("The exchange does not list %(symbol)s. Choose another market for this bot.") % {
            "symbol": data.get("symbol", "")
        }
    if code == "insufficient_funds":
        return _(
            "The exchange refused the bot's order: not enough funds (%(reason)s). Add funds or lower the position "
            "size, then start the bot again."
        ) % {"reason": data.get("reason", "")}
    if code == "order_refused":
        return _(
            "The exchange refused the bot's order (%(reason)s). Check the bot's market and position size, then "
            "start it again."
        ) % {"reason": data.get("reason", "")}
    if code == "exchange_refused":
        return _(
            "The exchange refused the bot's request (%(reason)s). Check the exchange account, then start the bot again."
        ) % {"reason": data.get("reason", "")}
    if code == "exchange_unavailable":
        return _(
            "The exchange failed to answer %(count)s times in a row (last: %(reason)s). The bot stopped rather "
            "than trade without the exchange: start it again once the exchange answers."
        ) % {"count": data.get("count", ""), "reason": data.get("reason", "")}
    if code == "reconciliation":
        return _(
            "The exchange shows positions on %(detail)s that Trendy cannot explain. Check the account, then start "
            "the bot again."
        ) % {"detail": data.get("detail", "")}
    if code == "staff":
        return _("Paused or stopped by Trendy's staff.")
    if code == "subscription_ended":
        return _(
            "Your subscription to %(listing)s has ended: the bot opens no new position. Open positions keep their "
            "stop loss and take profit. Subscribe again in the marketplace, then start the bot again."
        ) % {"listing": data.get("listing", "")}
    if code == "strategy_failed":
        return _(
            "The strategy could not run on a closed candle: %(reason)s Fix the script in a new version, move the "
            "bot to it, then start the bot again."
        ) % {"reason": _strategy_reason(data)}
    return ""


def _messages(params: dict[str, Any]) -> dict[str, Any]:
    """Stored message parameters back as messages (a nested [template, params] pair as a tuple)."""
    return {
        key: (value[0], _messages(value[1])) if isinstance(value, list) and len(value) == 2 else value
        for key, value in params.items()
    }


def strategy_failure(data: dict[str, Any]) -> str:
    """The engine's sentence of a ``strategy_failed`` halt (its template and parameters), in the active language."""
    return _strategy_reason(data)


def _strategy_reason(data: dict[str, Any]) -> str:
    template = data.get("template")
    if not isinstance(template, str):
        return ""
    try:
        return render(template, _messages(data.get("params") or {}), _)
    except (KeyError, TypeError, ValueError):
        return template


# --- the activity feed ------------------------------------------------------------------------------------


FILLED = {
    "entry": gettext_lazy("Entry filled"),
    "exit": gettext_lazy("Exit filled"),
    "stop_loss": gettext_lazy("Stop loss filled"),
    "take_profit": gettext_lazy("Take profit filled"),
}


def fill_sentence(*, purpose: str, side_: str, amount: Any, symbol: str, price: Any) -> str:
    """``Stop loss filled: sold 0.0099 BTC at 98,827.15 USDT``."""
    base, quote = display.base_and_quote(symbol)
    values = {"amount": display.quantity(amount, base), "price": display.price(price, quote)}
    if price in (None, ""):
        action = _("bought %(amount)s") if side_ == "buy" else _("sold %(amount)s")
    else:
        action = _("bought %(amount)s at %(price)s") if side_ == "buy" else _("sold %(amount)s at %(price)s")
    what = FILLED.get(purpose, FILLED["exit"])
    return _("%(what)s: %(action)s") % {"what": what, "action": action % values}


def order_sentence(*, kind: str, purpose_label: str, symbol: str) -> str:
    if kind == "rejected":
        return _("%(purpose)s order on %(symbol)s rejected by the exchange.") % {
            "purpose": purpose_label,
            "symbol": symbol,
        }
    return _("%(purpose)s order on %(symbol)s canceled.") % {"purpose": purpose_label, "symbol": symbol}


def pnl_text(value: Decimal | None, symbol: str) -> str:
    return display.amount(value, display.base_and_quote(symbol)[1] or "USDT", signed=True)
