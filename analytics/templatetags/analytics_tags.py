"""Fractions (0.25) shown as percentages (25.00%), the way the rest of Trendy writes them."""

from __future__ import annotations

from django import template

from trading_site import display

register = template.Library()


@register.filter
def share(value: object, places: int = 2) -> str:
    """``0.1234`` → ``12.34%``; a missing value stays the usual dash."""
    if value is None or value == "":
        return display.percent(None, int(places))
    return display.percent(float(value) * 100, int(places))


@register.filter
def share_signed(value: object, places: int = 2) -> str:
    if value is None or value == "":
        return display.percent(None, int(places), signed=True)
    return display.percent(float(value) * 100, int(places), signed=True)
