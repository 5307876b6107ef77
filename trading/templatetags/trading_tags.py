"""``{% load trading_tags %}``: what the trading screens call sides, order types and exit reasons
(``trading.labels``)."""

from __future__ import annotations

from django import template

from trading import labels

register = template.Library()


@register.filter
def side_label(value: str) -> str:
    return labels.side(value)


@register.filter
def order_type_label(value: str) -> str:
    return labels.order_type(value)


@register.filter
def exit_reason_label(value: str) -> str:
    return labels.exit_reason(value)
