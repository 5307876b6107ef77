"""What the webhook screens say about an alert, in the reader's language: its action, why it was refused, what
the risk limits changed and what it became.

The receiver stores codes and figures (``WebhookEvent.reason`` / ``details`` / ``adjustments``) and an English
message for the API and TradingView; the sentences are written here when a page is shown, so a Korean page
reads Korean whatever language the receiver or the worker ran in. Each sentence comes as HTML (``html=True``:
the alert's field names as ``<code>``, the trader's own text marked ``translate="no"``) for the webhook pages,
or as plain text for the dashboard's activity feed."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from trading_site import display
from webhooks import validation

ACTIONS = {
    "buy": gettext_lazy("Buy"),
    "sell": gettext_lazy("Sell"),
    "long": gettext_lazy("Long"),
    "short": gettext_lazy("Short"),
    "close": gettext_lazy("Close"),
    "close_long": gettext_lazy("Close the long"),
    "close_short": gettext_lazy("Close the short"),
}

POSITIONS = {
    "long": gettext_lazy("then long"),
    "short": gettext_lazy("then short"),
    "flat": gettext_lazy("then no position"),
}

# The alert's fields, named in words; on a page the field's JSON name follows as code.
FIELDS = {
    "secret": gettext_lazy("The secret"),
    "action": gettext_lazy("The action"),
    "symbol": gettext_lazy("The symbol"),
    "exchange": gettext_lazy("The exchange"),
    "price": gettext_lazy("The price"),
    "position": gettext_lazy("The position"),
    "size": gettext_lazy("The size"),
    "size_pct": gettext_lazy("The size in percent of the balance"),
    "leverage": gettext_lazy("The leverage"),
    "stop_loss_pct": gettext_lazy("The stop loss"),
    "take_profit_pct": gettext_lazy("The take profit"),
    "order_id": gettext_lazy("The order id"),
    "time": gettext_lazy("The time"),
    "bot": gettext_lazy("The bot"),
}


# --- building blocks ------------------------------------------------------------------------------------------


def _fill(template: str, values: dict[str, Any], html: bool) -> str:
    """``template % values``; in HTML the template is escaped and each value too, unless it is already safe."""
    if not html:
        return template % {k: str(v) for k, v in values.items()}
    return mark_safe(conditional_escape(template) % {k: conditional_escape(v) for k, v in values.items()})  # noqa: S308  # nosec B308, B703  # template and values escaped


def _code(name: object, html: bool) -> str:
    return format_html("<code>{}</code>", name) if html else str(name)


def _typed(text: object, html: bool) -> str:
    """Text that came from the alert or the trader (a symbol, a label): never translated."""
    return format_html('<span translate="no">{}</span>', text) if html else str(text)


def _field(name: object, html: bool) -> str:
    """``The stop loss (<code>stop_loss_pct</code>)`` on a page, ``The stop loss`` in the feed."""
    key = str(name or "")
    label = FIELDS.get(key)
    if label is None:
        return _code(key, html) if html else _("A field")
    if not html:
        return str(label)
    return _fill(_("%(label)s (%(name)s)"), {"label": label, "name": _code(key, html)}, html)


def _number(value: object) -> str:
    return display.number(value, None)


def _pct(value: object) -> str:
    return display.percent(value, 2)


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def action_label(action: str) -> str:
    return str(ACTIONS.get(action, action))


def alert_label(event: Any, *, html: bool = True) -> str:
    """``Buy BTC/USDT``, ``Sell BTC/USDT, then no position``; ``–`` for a request that never said. An alert
    refused before it was read (a bad field) is named by what its message says, as written."""
    body = event.body if isinstance(event.body, dict) else {}
    action, symbol = event.action, event.symbol
    if not action and str(body.get("action", "")).strip().lower() in ACTIONS:
        action = str(body["action"]).strip().lower()
    if not symbol and isinstance(body.get("symbol"), str):
        symbol = body["symbol"].strip()[:32]
    parts = [action_label(action)] if action else []
    if symbol:
        parts.append(_typed(symbol, html) if html else symbol)
    if not parts:
        return display.MISSING
    text = _fill("%(a)s %(b)s" if len(parts) == 2 else "%(a)s", dict(zip("ab", parts, strict=False)), html)
    position = body.get("position")
    if isinstance(position, str) and position.lower() in POSITIONS:
        text = _fill(_("%(alert)s, %(position)s"), {"alert": text, "position": POSITIONS[position.lower()]}, html)
    return text


# --- why an alert was refused --------------------------------------------------------------------------------


def reason_sentence(event: Any, *, html: bool = True) -> str:
    """Why the receiver refused (or set aside) the request, with its figures."""
    code = event.reason
    d = event.details or {}
    try:
        return _reason(code, d, event, html)
    except KeyError:  # stored before the figures were: the receiver's own words
        return _typed(event.message, html) if event.message else ""


def _reason(code: str, d: dict[str, Any], event: Any, html: bool) -> str:
    if code == "unknown_token":
        return _("No endpoint has this URL.")
    if code == "revoked":
        return _("This endpoint is revoked or paused: it accepts no alerts.")
    if code == "too_large":
        return _("The message is larger than %(kb)s KB.") % {"kb": d.get("kb", validation.MAX_BODY_BYTES // 1024)}
    if code == "ip_not_allowed":
        return _fill(
            _("The sender %(ip)s is not one of TradingView's addresses, and this endpoint accepts only those."),
            {"ip": _typed(event.source_ip or display.MISSING, html)},
            html,
        )
    if code == "empty":
        return _("The message is empty: put Trendy's JSON in the alert's Message box.")
    if code == "encoding":
        return _("The message is not UTF-8 text.")
    if code == "not_json":
        return _(
            "The message is not JSON. In TradingView, put Trendy's JSON in the alert's Message box: a plain-text "
            "message cannot be traded."
        )
    if code == "not_object":
        return _("The JSON must be an object in braces, not a list or a single value.")
    if code == "bad_secret":
        return _("The secret is wrong: put the endpoint's current secret in the alert's message.")
    if code == "missing_secret":
        return _("The message has no secret.")
    if code == "missing":
        return _fill(_("%(field)s is missing: it is required."), {"field": _field(d["field"], html)}, html)
    if code == "bad_type":
        template = {
            "number": _("%(field)s must be a number."),
            "text": _("%(field)s must be text."),
            "bot": _("%(field)s must be a bot's number."),
        }[d["expected"]]
        return _fill(template, {"field": _field(d["field"], html)}, html)
    if code == "bad_value":
        template = {
            "not_positive": _("%(field)s must be above 0."),
            "not_finite": _("%(field)s must be a finite number."),
            "out_of_range": _("%(field)s is out of range."),
            "too_big": _("%(field)s must be at most %(limit)s."),
            "too_precise": _("%(field)s has more than %(limit)s decimal places."),
            "too_long": _("%(field)s is longer than %(limit)s characters."),
        }[d["problem"]]
        limit = d.get("limit", "")
        if d["problem"] == "too_big":
            limit = display.number(Decimal(str(limit)), 0)
        return _fill(template, {"field": _field(d["field"], html), "limit": limit}, html)
    if code == "bad_symbol":
        if d.get("problem") == "quote":
            template = _("%(symbol)s: the quote currency is not recognised. Write the market as BTC/USDT.")
        else:
            template = _("%(symbol)s is not a market symbol. Write it as BTCUSDT or BTC/USDT.")
        return _fill(template, {"symbol": _typed(d["symbol"], html)}, html)
    if code == "bad_action":
        values = {"action": _typed(d["action"], html)}
        if not html:
            return _fill(_("The action %(action)s is unknown."), values, html)
        values["actions"] = mark_safe(", ".join(_code(a, html) for a in validation.ACTIONS))  # noqa: S308  # nosec B308, B703  # format_html items
        return _fill(_("The action %(action)s is unknown. Use one of: %(actions)s."), values, html)
    if code == "bad_position":
        values = {"position": _typed(d["position"], html)}
        if not html:
            return _fill(_("The position %(position)s is unknown."), values, html)
        values["positions"] = mark_safe(", ".join(_code(p, html) for p in validation.POSITIONS))  # noqa: S308  # nosec B308, B703  # format_html items
        return _fill(_("The position %(position)s is unknown. Use one of: %(positions)s."), values, html)
    if code == "bad_time":
        return _fill(
            _("%(field)s cannot be read. Use TradingView's %(timenow)s, which gives a UTC time."),
            {"field": _field(d["field"], html), "timenow": _code("{{timenow}}", html)},
            html,
        )
    if code == "stale":
        return _("The alert is %(age)s s old; this endpoint accepts alerts up to %(max)s s old.") % {
            "age": display.number(d["age"], 0),
            "max": display.number(d["max_age"], 0),
        }
    if code == "future":
        values = {"ahead": display.number(d["ahead"], 0), "field": _code("time", html)}
        if not html:
            return _fill(
                _("The alert's time is %(ahead)s s in the future: check the clock that sent it."), values, html
            )
        return _fill(
            _("The alert's time (%(field)s) is %(ahead)s s in the future: check the clock that sent it."), values, html
        )
    if code == "unknown_symbol":
        if d.get("allowed"):
            return _fill(
                _("%(symbol)s is not among this endpoint's allowed markets (%(allowed)s)."),
                {"symbol": _typed(d["symbol"], html), "allowed": _typed(", ".join(d["allowed"]), html)},
                html,
            )
        return _fill(_("The paper exchange does not list %(symbol)s."), {"symbol": _typed(d["symbol"], html)}, html)
    if code == "account_paused":
        return _fill(_("The exchange account %(account)s is disabled."), {"account": _typed(d["account"], html)}, html)
    if code == "auto_trading_off":
        return _("Auto-trading is off: turn it on in the header to let alerts trade.")
    if code == "paper_only":
        return _("This endpoint may not trade live: turn live trading on for it, or use a paper account.")
    if code == "unknown_bot":
        return _("There is no bot %(bot)s on this endpoint's exchange account.") % {"bot": d["bot"]}
    if code == "rate_limited":
        return _("More than %(limit)s alerts in a minute: this one was refused.") % {"limit": d["limit"]}
    if code == "duplicate":
        return _("The same alert as event %(original)s: it was not traded again.") % {"original": d["original"]}
    raise KeyError(code)


# --- what the risk limits changed -------------------------------------------------------------------------------


def adjustment_sentence(note: dict[str, Any]) -> str:
    """``Leverage 50× capped to your limit of 10×.``, ``Stop loss not given: your default of 2.00% was used.``"""
    name, action = note.get("field"), note.get("action")
    asked, applied = _decimal(note.get("requested")), _decimal(note.get("applied"))
    if action == "defaulted":
        if name == "stop_loss_pct":
            return _("Stop loss not given: your default of %(value)s was used.") % {"value": _pct(applied)}
        if name == "take_profit_pct":
            return _("Take profit not given: your default of %(value)s was used.") % {"value": _pct(applied)}
    if action == "clamped" and asked is not None and applied is not None:
        if name == "leverage":
            values = {"asked": _number(asked), "applied": _number(applied)}
            if asked != asked.to_integral_value() and applied == int(asked):
                return _("Leverage %(asked)s× rounded down to %(applied)s×: exchanges take whole numbers.") % values
            return _("Leverage %(asked)s× capped to your limit of %(applied)s×.") % values
        values = {"asked": _pct(asked), "applied": _pct(applied)}
        if name == "position_size_pct":
            return _("Size of %(asked)s of the balance capped to your limit of %(applied)s.") % values
        if name == "stop_loss_pct":
            if asked > applied:
                return _("Stop loss of %(asked)s capped to the widest allowed, %(applied)s.") % values
            return _("Stop loss of %(asked)s raised to the closest allowed, %(applied)s.") % values
        if name == "take_profit_pct":
            if asked > applied:
                return _("Take profit of %(asked)s capped to the furthest allowed, %(applied)s.") % values
            return _("Take profit of %(asked)s raised to the closest allowed, %(applied)s.") % values
    return _("%(field)s was changed by your risk limits.") % {"field": _field(name, False)}


def adjustment_sentences(event: Any) -> list[str]:
    return [adjustment_sentence(note) for note in event.adjustments or [] if isinstance(note, dict)]


# --- what an accepted alert became ------------------------------------------------------------------------------


def order_sentence(order: Any) -> str:
    """``Opened a long: bought 0.0199 BTC at 50,025.00 USDT.`` (or the order's state while it is not filled)."""
    base, quote = display.base_and_quote(order.symbol)
    filled = order.filled if order.filled else None
    if filled and order.average_price is not None:
        values = {"amount": display.quantity(filled, base), "price": display.price(order.average_price, quote)}
        opening = order.purpose == "entry"
        if order.side == "buy":
            template = (
                _("Opened a long: bought %(amount)s at %(price)s.")
                if opening
                else _("Closed the short: bought %(amount)s at %(price)s.")
            )
        else:
            template = (
                _("Opened a short: sold %(amount)s at %(price)s.")
                if opening
                else _("Closed the long: sold %(amount)s at %(price)s.")
            )
        return template % values
    values = {"amount": display.quantity(order.amount, base), "status": order.get_status_display()}
    if order.side == "buy":
        return _("Buy order for %(amount)s: %(status)s.") % values
    return _("Sell order for %(amount)s: %(status)s.") % values


FAILURES = {
    "trading_off": gettext_lazy("The exchange account is disabled or auto-trading is off."),
    "no_balance": gettext_lazy("There is no balance to trade with."),
    "min_amount": gettext_lazy("The order would be smaller than the market's minimum size."),
    "min_notional": gettext_lazy("The order would be worth less than the market's minimum order value."),
    "insufficient_funds": gettext_lazy("The exchange refused the order: not enough balance or margin."),
    "unknown_symbol": gettext_lazy("The exchange does not list this market."),
    "keys_rejected": gettext_lazy("The exchange rejected the API keys. Check them on the API keys page."),
    "alert": gettext_lazy("The alert could not be read again when it was traded."),
}


def failure_sentence(event: Any) -> str:
    """Why an accepted alert placed no order: by the failure's kind; for an exchange's own refusal, that
    the exchange refused (its own words are shown beside, as it wrote them)."""
    d = event.details or {}
    for key in (d.get("code"), d.get("failure")):
        if key in FAILURES:
            return str(FAILURES[key])
    if d.get("failure") == "router":
        return _("Your risk limits refused the order.")
    return _("The exchange refused the order.")


def exchange_words(event: Any) -> str:
    """The exchange's own message for a failure Trendy cannot say in its own words ("" otherwise)."""
    d = event.details or {}
    if event.status != "failed" or d.get("code") in FAILURES or d.get("failure") in FAILURES:
        return ""
    return event.result


def result_sentence(event: Any) -> str:
    """What an accepted alert became (plain text; "" while it waits)."""
    if event.status == "done":
        return order_sentence(event.order) if event.order is not None else _("Traded.")
    if event.status == "nothing":
        return _("Nothing to do: the position is already what the alert asks.")
    if event.status == "failed":
        return failure_sentence(event)
    return ""


# --- one line for the dashboard's activity feed -----------------------------------------------------------------


def feed_sentence(event: Any) -> str:
    """``TradingView alert Buy BTC/USDT: traded. Opened a long: bought 0.0199 BTC at 50,025.00 USDT.``"""
    values = {"alert": alert_label(event, html=False)}
    if event.outcome == "rejected":
        values["reason"] = reason_sentence(event, html=False)
        return _("TradingView alert %(alert)s refused: %(reason)s") % values
    if event.outcome == "duplicate":
        return _("TradingView alert %(alert)s arrived twice: not traded again.") % values
    values["status"] = event.get_status_display() if event.status else event.get_outcome_display()
    text = _("TradingView alert %(alert)s: %(status)s.") % values
    result = result_sentence(event)
    notes = adjustment_sentences(event)
    return " ".join(part for part in (text, result, *notes) if part)
