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


def test_the_message_trendys_pine_export_writes_is_accepted(endpoint, send, prices):
    """The alert message of every exported Pine Script, with TradingView's placeholders filled in."""
    import json

    from django.utils import timezone

    from strategies.pine_export import alert_payload

    settings = {"position_size_pct": 10, "leverage": 2, "stop_loss_pct": None, "take_profit_pct": 4}
    text = json.dumps(alert_payload(settings, endpoint.secret))
    filled = {
        "{{strategy.order.action}}": "buy",
        "{{ticker}}": "BTCUSDT",
        "{{exchange}}": "BINANCE",
        "{{close}}": "50012.5",
        "{{strategy.market_position}}": "long",
        "{{strategy.order.contracts}}": "0.004",
        "{{strategy.order.id}}": "Long",
        "{{timenow}}": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    for placeholder, value in filled.items():
        text = text.replace(placeholder, value)
    response = send(endpoint.endpoint, None, raw=text.encode(), content_type="text/plain; charset=utf-8")
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get(pk=response.json()["event"])
    assert event.status == "done", event.result
    position = Position.objects.get(exchange_account=endpoint.endpoint.exchange_account)
    # size_pct 10 at 2x: 2,000 USDT of BTC; the null stop loss took the profile's default (2 %).
    assert 0.0399 <= float(position.amount) <= 0.04
    assert {
        "field": "stop_loss_pct",
        "action": "defaulted",
        "requested": "none",
        "applied": "2.00",
    } in event.adjustments


def test_an_accepted_alert_costs_one_lookup_and_one_insert(endpoint, client, prices, django_assert_max_num_queries):
    """The receiver's hot path: the endpoint with its account and user in one query, then the insert (the
    unique index decides duplicates); the trading happens in the task, not here."""
    import json

    first = alert(endpoint.secret, order_id="warm-up")  # the paper market list is cached after this one
    assert client.post(endpoint.endpoint.path, json.dumps(first), content_type="application/json").status_code == 200
    with django_assert_max_num_queries(4) as captured:  # SELECT, SAVEPOINT, INSERT, RELEASE in a test
        response = client.post(endpoint.endpoint.path, json.dumps(alert(endpoint.secret)), "application/json")
    assert response.status_code == 200, response.content
    statements = [q["sql"].split()[0].upper() for q in captured.captured_queries]
    assert statements.count("SELECT") == 1 and statements.count("INSERT") == 1, statements
