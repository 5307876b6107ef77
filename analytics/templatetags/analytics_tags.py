"""Fractions (0.25) shown as percentages (25.00%), the way the rest of Trendy writes them."""

from __future__ import annotations

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

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


@register.filter
def code_spans(value: object) -> str:
    """A message's `backticked` parts (a command an operator can run) as code; the rest escaped."""
    parts = str(value).split("`")
    html = [str(escape(part)) if k % 2 == 0 else f"<code>{escape(part)}</code>" for k, part in enumerate(parts)]
    return mark_safe("".join(html))  # noqa: S308  # nosec B308, B703  # every part escaped above
