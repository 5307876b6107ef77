"""The trading figures on /metrics, in one process (tests/webhooks/test_metrics_live.py adds them up across
processes): requests to a real ccxt adapter against the fake Binance on 127.0.0.1 by outcome and the exchange's
up gauge; orders by the exchange's answer and refusals by reason, counted when their rows commit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from prometheus_client import REGISTRY

from accounts import services as account_services
from trading import clock
from trading.exchanges.base import OrderRequest
from trading.exchanges.errors import AuthenticationError, TemporaryError
from trading.execution import orders as order_services
from trading.execution.adapters import adapter_for
from trading.models import Order

pytestmark = pytest.mark.django_db

C1 = datetime(2024, 1, 1, 10, tzinfo=UTC)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def account(alice, binance_server, settings):
    settings.TRENDY_EXCHANGE_API_URLS = {"binance": binance_server.url}
    return account_services.exchange_account_create(
        user=alice, exchange="binance", label="Binance", api_key=binance_server.api_key, secret=binance_server.secret
    )


def request(client_id: str, amount: str = "0.01") -> OrderRequest:
    return OrderRequest(symbol="BTC/USDT", side="buy", type="market", amount=D(amount), client_order_id=client_id)


def test_requests_by_outcome_and_the_up_gauge(account, binance_server):
    ok, down = (
        value("trendy_exchange_requests_total", exchange="binance", outcome="ok"),
        value("trendy_exchange_requests_total", exchange="binance", outcome="down"),
    )
    exchange = adapter_for(account, retries=0)
    assert value("trendy_exchange_requests_total", exchange="binance", outcome="ok") == ok  # set-up sends nothing
    exchange.fetch_ticker("BTC/USDT")
    answered = value("trendy_exchange_requests_total", exchange="binance", outcome="ok") - ok
    assert answered >= 1  # the markets, then the ticker
    assert value("trendy_exchange_api_up", exchange="binance") == 1
    binance_server.server_error(1, status=503)
    with pytest.raises(TemporaryError):
        exchange.fetch_ticker("BTC/USDT")
    assert value("trendy_exchange_requests_total", exchange="binance", outcome="down") == down + 1
    assert value("trendy_exchange_api_up", exchange="binance") == 0
    exchange.fetch_ticker("BTC/USDT")
    assert value("trendy_exchange_api_up", exchange="binance") == 1


def test_orders_by_answer_and_refusals_by_reason_when_they_commit(
    account, binance_server, django_capture_on_commit_callbacks
):
    def orders(status: str) -> float:
        return value("trendy_orders_total", exchange="binance", action="buy", status=status)

    filled, rejected = orders("filled"), orders("rejected")
    refused = value("trendy_order_failures_total", exchange="binance", reason="authentication")
    exchange = adapter_for(account)
    with clock.pinned(clock.Pin(time=C1, price=lambda exchange, symbol: D(50_000))):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            order_services.order_submit(
                exchange=exchange, account=account, request=request("Tmetrics0001"), purpose=Order.Purpose.ENTRY
            )
        assert orders("filled") == filled  # not yet: the row has not committed
        for callback in callbacks:
            callback()
        assert orders("filled") == filled + 1
        assert value("trendy_trades_total", exchange="binance", symbol="BTC/USDT") >= 1
        binance_server.reject_keys = True
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(AuthenticationError):
            order_services.order_submit(
                exchange=adapter_for(account), account=account, request=request("Tmetrics0002"),
                purpose=Order.Purpose.ENTRY,
            )  # fmt: skip
    assert orders("rejected") == rejected + 1
    assert value("trendy_order_failures_total", exchange="binance", reason="authentication") == refused + 1
    assert value("trendy_exchange_requests_total", exchange="binance", outcome="error") >= 1
    assert value("trendy_exchange_api_up", exchange="binance") == 1  # it answered: a refusal is not an outage
