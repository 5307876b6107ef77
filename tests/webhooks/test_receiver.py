"""The receiver end to end: an alert in TradingView's exact shape becomes one paper order; every bad request
is stored with its reason and places nothing."""

from __future__ import annotations

import pytest

from trading.models import Order, Position
from webhooks.models import WebhookEvent

from .conftest import alert

pytestmark = pytest.mark.django_db


def test_an_alert_becomes_one_capped_paper_order(endpoint, send, prices):
    response = send(endpoint.endpoint, alert(endpoint.secret))
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get(pk=response.json()["event"])
    assert event.outcome == "accepted" and event.status == "done", event.result
    assert event.body["secret"] == "***" and endpoint.secret not in str(event.body)
    order = event.order
    assert order.source == Order.Source.WEBHOOK and order.status == Order.Status.FILLED and order.side == "buy"
    position = Position.objects.get(exchange_account=endpoint.endpoint.exchange_account)
    assert position.side == "long" and position.symbol == "BTC/USDT"
    # 0.02 BTC at 50,000 with the profile's 3x: a third of 10 % of the balance, within the limits; the
    # router buys what that margin buys at the price plus slippage, rounded down to the size step.
    assert 0.0199 <= float(position.amount) <= 0.02
    assert position.stop_loss is not None and position.take_profit is not None
