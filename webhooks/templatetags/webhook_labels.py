"""``{% load webhook_labels %}``: an alert's sentences on the webhook pages (see ``webhooks.labels``).

{{ event|alert_label }}      Buy BTC/USDT
{{ event|reason_text }}      why it was refused, the alert's field names as <code>
{{ event|result_text }}      what it became: Opened a long: bought 0.0199 BTC at 50,025.00 USDT.
{{ event|adjustment_texts }} what the risk limits changed, one sentence each
{{ event|exchange_words }}   an exchange's own refusal, as it wrote it
{{ event.body|pretty_json }} the message as received (the secret removed)
"""

from __future__ import annotations

import json
from typing import Any

from django import template

from webhooks import labels

register = template.Library()


@register.filter
def alert_label(event: Any) -> str:
    return labels.alert_label(event)


@register.filter
def reason_text(event: Any) -> str:
    return labels.reason_sentence(event)


@register.filter
def result_text(event: Any) -> str:
    return labels.result_sentence(event)


@register.filter
def adjustment_texts(event: Any) -> list[str]:
    return labels.adjustment_sentences(event)


@register.filter
def exchange_words(event: Any) -> str:
    return labels.exchange_words(event)


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
