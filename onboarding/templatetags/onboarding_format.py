"""``{% load onboarding_format %}``: the wizard's settings as people read them, through ``trading_site.display``.

{{ level.stop_loss_pct|setting_pct }}   2% / 2.5% (the value's own decimals, at most two)
{{ data.leverage|times }}              2x / 2배
{{ "binance"|exchange_label }}         Binance (an exchange id as its name)
{{ "1h"|timeframe }}                   1h / 1시간
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template
from django.utils.translation import gettext as _

from market_data.labels import exchange_name, timeframe_label
from strategies.labels import strategy_name
from trading_site import display

register = template.Library()


def _places(value: object) -> int:
    try:
        number = Decimal(str(value)).normalize()
    except (InvalidOperation, ValueError, TypeError):
        return 2
    if not number.is_finite():
        return 2
    return min(2, max(0, -number.as_tuple().exponent))  # type: ignore[operator]


@register.filter
def setting_pct(value: object) -> str:
    return display.percent(value, _places(value))


@register.filter
def times(value: object) -> str:
    number = display.number(value, _places(value))
    if number == display.MISSING:
        return number
    # Translators: a leverage, e.g. "2x"; in Korean "2배".
    return _("%(leverage)sx") % {"leverage": number}


@register.filter
def exchange_label(exchange: object) -> str:
    exchange = str(exchange or "")
    if exchange == "paper":
        return _("Paper")
    return exchange_name(exchange)


@register.filter
def timeframe(value: object) -> str:
    return timeframe_label(str(value or ""))


@register.filter
def strategy_label(strategy: object) -> str:
    """A strategy (or its slug) by name in the reader's language."""
    return strategy_name(strategy if isinstance(strategy, str) else getattr(strategy, "slug", ""))
