"""``{% load trendy %}``: the page's numbers, amounts and times (see ``trading_site.display``).

{{ balance|money }}                10,000.00 USDT
{{ pnl|money_signed }}             +12.50 USDT / −3.10 USDT
{{ pnl|money_signed:"BTC" }}       with another currency
{{ p.entry_price|price:p.symbol }} 96,708.00 USDT (the symbol's quote currency)
{{ p.size|qty:p.symbol }}          0.0042 BTC (the symbol's base asset)
{{ rate|pct }} / {{ rate|pct:1 }}  12.35% / 12.3%
{{ ret|pct_signed }}               +12.35%
{{ n|num }} / {{ n|num:0 }}        1,234.50 / 1,235
{{ event.time|when }}              4 Dec 2024, 06:00 KST
{{ event.time|when_s }}            with seconds
{{ run.start|day }}                4 Dec 2024
{% moment event.time %}            <time datetime="…">4 Dec 2024, 06:00 KST</time>
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html

from trading_site import display

register = template.Library()


def _quote(symbol: object) -> str:
    symbol = str(symbol or "")
    return display.base_and_quote(symbol)[1] if "/" in symbol else symbol


def _base(symbol: object) -> str:
    symbol = str(symbol or "")
    return display.base_and_quote(symbol)[0] if "/" in symbol else symbol


@register.filter
def money(value: object, currency: str = "USDT") -> str:
    return display.amount(value, _quote(currency))


@register.filter
def money_signed(value: object, currency: str = "USDT") -> str:
    return display.amount(value, _quote(currency), signed=True)


@register.filter
def price(value: object, symbol: str = "") -> str:
    return display.price(value, _quote(symbol))


@register.filter
def qty(value: object, symbol: str = "") -> str:
    return display.quantity(value, _base(symbol))


@register.filter
def pct(value: object, places: int = 2) -> str:
    return display.percent(value, int(places))


@register.filter
def pct_signed(value: object, places: int = 2) -> str:
    return display.percent(value, int(places), signed=True)


@register.filter
def num(value: object, places: int | None = 2) -> str:
    return display.number(value, None if places in (None, "") else int(places))


@register.filter
def when(value):
    return display.when(value)


@register.filter
def when_s(value):
    return display.when(value, seconds=True)


@register.filter
def day(value):
    return display.day(value)


@register.simple_tag
def moment(value, seconds: bool = False):
    if value is None:
        return display.MISSING
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), display.when(value, seconds=seconds))
