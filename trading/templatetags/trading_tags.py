"""``{% load trading_tags %}``: what the trading screens call sides, order types and exit reasons
(``trading.labels``)."""

from __future__ import annotations

from django import template

from trading import labels
from trading.exchange_accounts.connection import test_message

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


@register.filter
def connection_message(account) -> str:
    """The account's last connection test in the reader's language (the stored words for older rows)."""
    return (test_message(account.last_test_detail) if account.last_test_detail else "") or account.last_test_message
