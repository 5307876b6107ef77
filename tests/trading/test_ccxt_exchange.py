"""The ccxt adapter against a fake Binance and a fake OKX on 127.0.0.1: ccxt's real request building and
signing, our rounding and checks, error translation, retries, and the look-up after a time-out."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import pytest

from tests.trading.fake_exchange import API_KEY, PASSPHRASE, SECRET, FakeVenue
from trading.exchanges.base import Exchange, KeyPermissions, OrderRequest, OrderState
from trading.exchanges.ccxt_exchange import CcxtExchange
from trading.exchanges.errors import (
    AuthenticationError,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    RequestTimeout,
    TemporaryError,
    UnknownSymbol,
)
from trading.exchanges.registry import build_exchange
from trading.exchanges.submit import submit_order

D = Decimal
SPOT, SWAP = "BTC/USDT", "BTC/USDT:USDT"


def order(symbol: str, side: str, kind: str, amount: str, cid: str, **extra: Any) -> OrderRequest:
    values = {k: D(v) if k in ("price", "trigger_price") else v for k, v in extra.items()}
    return OrderRequest(symbol=symbol, side=side, type=kind, amount=D(amount), client_order_id=cid, **values)


def urls_of(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [url for item in value.values() for url in urls_of(item)]
    return [value] if isinstance(value, str) else []


@pytest.fixture(params=["binance", "okx"])
def server(request) -> FakeVenue:
    """Each venue in turn."""
    return request.getfixturevalue(f"{request.param}_server")


# --- set-up ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("market_type", ["spot", "swap"])
@pytest.mark.parametrize("testnet", [False, True])
def test_every_api_url_points_at_the_local_fake(server, market_type, testnet):
    exchange = server.exchange(market_type, testnet=testnet)
    urls = urls_of(exchange.client.urls["api"])
    assert urls
    assert all(url.startswith(server.url + "/") or url == server.url for url in urls), urls
    assert isinstance(exchange, Exchange)


def test_an_unknown_exchange_id_is_refused():
    with pytest.raises(ExchangeError, match="ccxt does not know the exchange 'nosuchex'") as caught:
        build_exchange("nosuchex", credentials={}, testnet=False, market_type="spot")
    assert caught.value.code == "unknown_exchange"


def test_the_registry_builds_a_generic_adapter_for_any_ccxt_exchange(binance_server):
    exchange = build_exchange(
        "binance",
        credentials={"api_key": API_KEY, "secret": SECRET},
        testnet=False,
        market_type="spot",
        api_urls={"*": binance_server.url},
        rate_limit_ms=0,
    )
    assert exchange.fetch_balance()["USDT"].total == D(10_000)
    kraken = build_exchange("kraken", credentials={}, testnet=False, market_type="spot")
    assert isinstance(kraken, CcxtExchange)
    assert kraken.capabilities.key_permissions is False
    assert kraken.fetch_key_permissions() == KeyPermissions()  # the exchange does not say: no request


def test_capabilities_per_venue_and_market_type(binance_server, okx_server):
    spot, swap = binance_server.exchange("spot").capabilities, binance_server.exchange("swap").capabilities
    assert (spot.stop_orders, spot.take_profit_orders, spot.reduce_only, spot.positions, spot.set_leverage) == (
        True,
        True,
        False,
        False,
        False,
    )
    assert (swap.reduce_only, swap.positions, swap.set_leverage, swap.key_permissions) == (True, True, True, True)
    assert binance_server.exchange("spot", testnet=True).capabilities.key_permissions is False  # no /sapi there
    okx_swap = okx_server.exchange("swap").capabilities
    assert okx_swap.positions and okx_swap.reduce_only and okx_swap.key_permissions and okx_swap.stop_orders


# --- markets -----------------------------------------------------------------------------------------------


def test_binance_markets_carry_the_exchange_filters(binance_server):
    spot = binance_server.exchange("spot").load_markets()
    assert set(spot) == {"BTC/USDT", "ETH/USDT"}
    btc = spot[SPOT]
    assert (btc.exchange_symbol, btc.type, btc.base, btc.quote) == ("BTCUSDT", "spot", "BTC", "USDT")
    assert (btc.amount_step, btc.price_step, btc.min_amount, btc.min_notional) == (
        D("0.00001"),
        D("0.01"),
        D("0.00001"),
        D(5),
    )
    swap = binance_server.exchange("swap").load_markets()
    assert set(swap) == {SWAP}
    perp = swap[SWAP]
    assert (perp.amount_step, perp.price_step, perp.min_notional, perp.contract_size) == (
        D("0.001"),
        D("0.1"),
        D(100),
        D(1),
    )
    assert [r.path for r in binance_server.requests] == ["/api/v3/exchangeInfo", "/fapi/v1/exchangeInfo"]


def test_okx_swap_amounts_are_contracts(okx_server):
    perp = okx_server.exchange("swap").market(SWAP)
    assert (perp.exchange_symbol, perp.amount_step, perp.min_amount, perp.contract_size) == (
        "BTC-USDT-SWAP",
        D("0.01"),
        D("0.01"),
        D("0.01"),
    )
    assert perp.notional(D(2), D(50_000)) == D(1_000)  # 2 contracts of 0.01 BTC
    assert okx_server.exchange("spot").market(SPOT).amount_step == D("0.00000001")


def test_an_unlisted_market_is_an_unknown_symbol(binance_server):
    exchange = binance_server.exchange("spot")
    with pytest.raises(UnknownSymbol, match="does not list the spot market DOGE/USDT"):
        exchange.market("DOGE/USDT")
    with pytest.raises(UnknownSymbol):
        exchange.market(SWAP)  # a spot account lists no perpetuals


# --- orders ------------------------------------------------------------------------------------------------


def test_binance_spot_market_order_is_rounded_and_carries_our_client_id(binance_server):
    exchange = binance_server.exchange("spot")
    state = exchange.create_order(order(SPOT, "buy", "market", "0.0012345", "Tbuy1"))
    (sent,) = binance_server.creates()
    assert sent.form["newClientOrderId"] == "Tbuy1"
    assert (sent.form["type"], sent.form["side"], sent.form["quantity"]) == ("MARKET", "BUY", "0.00123")
    assert "price" not in sent.form and "quoteOrderQty" not in sent.form
    assert sent.header("X-MBX-APIKEY") == API_KEY and "signature" in sent.form
    assert (state.exchange_order_id, state.client_order_id, state.status, state.type) == (
        "1001",
        "Tbuy1",
        "closed",
        "market",
    )
    assert (state.amount, state.filled, state.average) == (D("0.00123"), D("0.00123"), D(50_000))
    assert state.fee == D("0.0615")  # 0.1 % of 61.5 USDT, in the quote currency


def test_limit_prices_are_rounded_to_the_tick_and_rest(binance_server):
    exchange = binance_server.exchange("spot")
    state = exchange.create_order(order(SPOT, "buy", "limit", "0.001", "Tlim1", price="40000.005"))
    (sent,) = binance_server.creates()
    assert (sent.form["price"], sent.form["timeInForce"]) == ("40000.01", "GTC")
    assert (state.status, state.price, state.filled) == ("open", D("40000.01"), 0)
    assert not binance_server.calls("/api/v3/ticker/24hr")  # the limit price is the notional's reference


def test_okx_spot_order_sends_cl_ord_id_and_reads_the_order_back(okx_server):
    exchange = okx_server.exchange("spot")
    state = exchange.create_order(order(SPOT, "buy", "market", "0.0012345", "Tokx1"))
    (sent,) = okx_server.creates()
    assert sent.path == "/api/v5/trade/batch-orders" and isinstance(sent.body, list)
    assert sent.fields["clOrdId"] == "Tokx1"
    assert (sent.fields["sz"], sent.fields["tdMode"], sent.fields["ordType"]) == ("0.0012345", "cash", "market")
    assert sent.header("OK-ACCESS-KEY") == API_KEY and sent.header("OK-ACCESS-PASSPHRASE") == PASSPHRASE
    assert sent.header("x-simulated-trading") is None
    # OKX acknowledges with ids only: the order is read back for its fill.
    assert (state.client_order_id, state.status, state.filled, state.average) == (
        "Tokx1",
        "closed",
        D("0.0012345"),
        D(50_000),
    )
    assert okx_server.calls("/api/v5/trade/order", "GET")


def test_binance_spot_stop_and_take_profit_are_stop_loss_and_take_profit_orders(binance_server):
    exchange = binance_server.exchange("spot")
    stop = exchange.create_order(
        order(SPOT, "sell", "stop_market", "0.001", "Tsl1", trigger_price="45000.004", reduce_only=True)
    )
    take = exchange.create_order(order(SPOT, "sell", "take_profit", "0.001", "Ttp1", trigger_price="55000"))
    sl_sent, tp_sent = binance_server.creates()
    assert (sl_sent.form["type"], sl_sent.form["stopPrice"], sl_sent.form["newClientOrderId"]) == (
        "STOP_LOSS",
        "45000",
        "Tsl1",
    )
    assert "reduceOnly" not in sl_sent.form  # spot has no positions to reduce
    assert (tp_sent.form["type"], tp_sent.form["stopPrice"]) == ("TAKE_PROFIT", "55000")
    assert (stop.type, stop.trigger_price, stop.status, stop.reduce_only) == (
        "stop_market",
        D("45000.00"),
        "open",
        False,
    )
    assert (take.type, take.trigger_price) == ("take_profit", D("55000.00"))
    assert {o.client_order_id for o in exchange.fetch_open_orders(SPOT)} == {"Tsl1", "Ttp1"}


def test_binance_swap_stops_are_reduce_only_algo_orders(binance_server):
    binance_server.open_position(SWAP, "long", D("0.01"), D(48_000))
    exchange = binance_server.exchange("swap")
    stop = exchange.create_order(
        order(SWAP, "sell", "stop_market", "0.01", "Tsl2", trigger_price="45000.04", reduce_only=True)
    )
    take = exchange.create_order(
        order(SWAP, "sell", "take_profit", "0.01", "Ttp2", trigger_price="56000", reduce_only=True)
    )
    sl_sent, tp_sent = binance_server.creates()
    assert sl_sent.path == tp_sent.path == "/fapi/v1/algoOrder"
    assert {k: sl_sent.form[k] for k in ("clientAlgoId", "type", "triggerPrice", "reduceOnly", "algoType")} == {
        "clientAlgoId": "Tsl2",
        "type": "STOP_MARKET",
        "triggerPrice": "45000",
        "reduceOnly": "true",
        "algoType": "CONDITIONAL",
    }
    assert (tp_sent.form["type"], tp_sent.form["triggerPrice"]) == ("TAKE_PROFIT_MARKET", "56000")
    assert (stop.type, stop.trigger_price, stop.reduce_only, stop.status) == ("stop_market", D("45000.0"), True, "open")
    assert take.type == "take_profit"
    assert not binance_server.calls("/fapi/v1/ticker/24hr")  # reduce-only orders are exempt from the minimum

    found = exchange.fetch_order(SWAP, client_order_id="Tsl2")  # plain orders first, then algo orders
    assert (found.exchange_order_id, found.type, found.trigger_price) == (
        stop.exchange_order_id,
        "stop_market",
        D("45000.0"),
    )
    assert [r.path for r in binance_server.calls(method="GET")[-2:]] == ["/fapi/v1/order", "/fapi/v1/algoOrder"]
    assert {o.client_order_id for o in exchange.fetch_open_orders(SWAP)} == {"Tsl2", "Ttp2"}
    canceled = exchange.cancel_order(SWAP, client_order_id="Tsl2")
    assert (canceled.status, canceled.client_order_id, canceled.amount) == ("canceled", "Tsl2", D("0.01"))
    assert binance_server.order("Tsl2").status == "canceled"


def test_binance_swap_reduce_only_close(binance_server):
    binance_server.open_position(SWAP, "long", D("0.01"), D(48_000))
    exchange = binance_server.exchange("swap")
    state = exchange.create_order(order(SWAP, "sell", "market", "0.01", "Tclose", reduce_only=True))
    (sent,) = binance_server.creates()
    assert (sent.path, sent.form["reduceOnly"], sent.form["newClientOrderId"]) == ("/fapi/v1/order", "true", "Tclose")
    assert (state.status, state.reduce_only) == ("closed", True)
    assert exchange.fetch_positions() == []
    with pytest.raises(InvalidOrder, match="ReduceOnly Order is rejected"):
        exchange.create_order(order(SWAP, "sell", "market", "0.01", "Tclose2", reduce_only=True))


def test_okx_swap_stops_are_algo_orders_found_and_canceled_by_our_id(okx_server):
    okx_server.open_position(SWAP, "short", D("0.05"), D(51_000))
    exchange = okx_server.exchange("swap")
    stop = exchange.create_order(
        order(SWAP, "buy", "stop_market", "5", "Tsl3", trigger_price="53000.04", reduce_only=True)
    )
    exchange.create_order(order(SWAP, "buy", "take_profit", "5", "Ttp3", trigger_price="47000", reduce_only=True))
    sl_sent, tp_sent = okx_server.creates()
    assert sl_sent.path == "/api/v5/trade/order-algo"
    assert {
        k: sl_sent.fields[k] for k in ("algoClOrdId", "ordType", "slTriggerPx", "slOrdPx", "reduceOnly", "tdMode", "sz")
    } == {
        "algoClOrdId": "Tsl3",
        "ordType": "conditional",
        "slTriggerPx": "53000",
        "slOrdPx": "-1",
        "reduceOnly": True,
        "tdMode": "isolated",
        "sz": "5",
    }
    assert (tp_sent.fields["tpTriggerPx"], tp_sent.fields["tpOrdPx"]) == ("47000", "-1")
    assert (stop.type, stop.trigger_price, stop.client_order_id, stop.status) == (
        "stop_market",
        D("53000.0"),
        "Tsl3",
        "open",
    )

    found = exchange.fetch_order(SWAP, client_order_id="Ttp3")
    assert (found.type, found.trigger_price, found.amount) == ("take_profit", D(47_000), D(5))
    assert {o.client_order_id for o in exchange.fetch_open_orders(SWAP)} == {"Tsl3", "Ttp3"}
    canceled = exchange.cancel_order(SWAP, client_order_id="Tsl3")
    assert canceled.status == "canceled"
    (cancel,) = okx_server.calls("/api/v5/trade/cancel-algos")
    assert cancel.body == [{"instId": "BTC-USDT-SWAP", "algoClOrdId": "Tsl3"}]


def test_fetch_and_cancel_by_client_order_id_on_binance_spot(binance_server):
    exchange = binance_server.exchange("spot")
    placed = exchange.create_order(order(SPOT, "buy", "limit", "0.001", "Trest", price="40000"))
    found = exchange.fetch_order(SPOT, client_order_id="Trest")
    assert found == placed
    assert binance_server.calls("/api/v3/order", "GET")[-1].query["origClientOrderId"] == "Trest"
    assert exchange.fetch_order(SPOT, exchange_order_id=placed.exchange_order_id).client_order_id == "Trest"
    canceled = exchange.cancel_order(SPOT, client_order_id="Trest")
    assert (canceled.status, canceled.client_order_id, canceled.amount, canceled.price) == (
        "canceled",
        "Trest",
        D("0.001"),
        D(40_000),
    )
    assert exchange.fetch_open_orders() == []
    with pytest.raises(OrderNotFound):
        exchange.cancel_order(SPOT, client_order_id="Trest")


def test_okx_cancel_of_a_resting_order(okx_server):
    exchange = okx_server.exchange("spot")
    exchange.create_order(order(SPOT, "sell", "limit", "0.01", "Tsell", price="60000"))
    canceled = exchange.cancel_order(SPOT, client_order_id="Tsell")
    assert (canceled.status, canceled.amount, canceled.price) == ("canceled", D("0.01"), D(60_000))
    assert okx_server.calls("/api/v5/trade/cancel-order")[0].body == {"instId": "BTC-USDT", "clOrdId": "Tsell"}


# --- checks before sending ---------------------------------------------------------------------------------


def test_an_order_below_the_minimum_notional_is_refused_before_sending(binance_server):
    exchange = binance_server.exchange("spot")
    with pytest.raises(InvalidOrder, match=r"4\.50 USDT is below binance's minimum of 5 USDT for BTC/USDT") as caught:
        exchange.create_order(order(SPOT, "buy", "market", "0.00009", "Tsmall"))
    assert caught.value.code == "min_notional"
    with pytest.raises(InvalidOrder, match="minimum of 5"):
        exchange.create_order(order(SPOT, "buy", "limit", "0.0002", "Tsmall2", price="20000"))
    with pytest.raises(InvalidOrder, match="minimum of 100"):
        binance_server.exchange("swap").create_order(order(SWAP, "buy", "market", "0.001", "Tsmall3"))
    assert binance_server.creates() == []


def test_an_amount_that_rounds_to_zero_or_is_below_the_minimum_is_refused(binance_server, okx_server):
    with pytest.raises(InvalidOrder, match=r"rounds to 0 at the size step 0\.00001") as caught:
        binance_server.exchange("spot").create_order(order(SPOT, "buy", "market", "0.000009", "Tzero"))
    assert caught.value.code == "amount_zero"
    with pytest.raises(InvalidOrder, match=r"rounds to 0 at the size step 0\.01"):
        okx_server.exchange("swap").create_order(order(SWAP, "buy", "market", "0.009", "Tzero2"))  # contracts
    with pytest.raises(InvalidOrder, match=r"below okx's minimum of 0\.00001") as caught:
        okx_server.exchange("spot").create_order(order(SPOT, "buy", "market", "0.000005", "Tzero3"))
    assert caught.value.code == "min_amount"
    assert binance_server.creates() == okx_server.creates() == []


# --- balances, permissions, positions, leverage -------------------------------------------------------------


def test_balances(binance_server, okx_server):
    spot = binance_server.exchange("spot").fetch_balance()
    assert (spot["USDT"].total, spot["USDT"].free, spot["BTC"].total) == (D(10_000), D(10_000), D("0.5"))
    binance_server.open_position(SWAP, "long", D("0.1"), D(50_000), leverage=5)
    futures = binance_server.exchange("swap").fetch_balance()
    assert (futures["USDT"].total, futures["USDT"].free, futures["USDT"].used) == (D(10_000), D(9_000), D(1_000))
    assert binance_server.calls("/fapi/v3/account")
    assert okx_server.exchange("swap").fetch_balance()["USDT"].free == D(10_000)


def test_key_permissions_report_withdrawals(binance_server, okx_server):
    binance_server.permissions.update(withdraw=True, ip_restricted=True)
    assert binance_server.exchange("spot").fetch_key_permissions() == KeyPermissions(
        trade=True, withdraw=True, ip_restricted=True
    )
    assert binance_server.calls("/sapi/v1/account/apiRestrictions")
    assert okx_server.exchange("spot").fetch_key_permissions() == KeyPermissions(
        trade=True, withdraw=False, ip_restricted=False
    )
    okx_server.permissions.update(withdraw=True, ip_restricted=True)
    assert okx_server.exchange("swap").fetch_key_permissions() == KeyPermissions(
        trade=True, withdraw=True, ip_restricted=True
    )


def test_binance_testnet_has_no_key_permissions_to_read(binance_server):
    exchange = binance_server.exchange("spot", testnet=True)
    assert "sapi" not in exchange.client.urls["api"]
    assert exchange.fetch_key_permissions() == KeyPermissions()
    assert exchange.load_markets()  # the sandbox speaks the same /api/v3
    assert [r.path for r in binance_server.requests] == ["/api/v3/exchangeInfo"]


def test_okx_testnet_sends_the_simulated_trading_header(okx_server):
    okx_server.demo = True
    assert okx_server.exchange("spot", testnet=True).fetch_balance()["USDT"].total == D(10_000)
    assert okx_server.calls("/api/v5/account/balance")[0].header("x-simulated-trading") == "1"
    with pytest.raises(AuthenticationError, match="does not match current environment"):
        okx_server.exchange("spot").fetch_balance()


def test_binance_positions_and_leverage(binance_server):
    binance_server.open_position(SWAP, "long", D("0.01"), D(48_000), leverage=5)
    exchange = binance_server.exchange("swap")
    (position,) = exchange.fetch_positions()
    assert (position.symbol, position.side, position.amount, position.entry_price) == (
        SWAP,
        "long",
        D("0.01"),
        D(48_000),
    )
    assert (position.leverage, position.margin, position.liquidation_price) == (5, D(96), D(38_400))
    assert position.unrealized_pnl == D(20)
    exchange.set_leverage(SWAP, 3)
    exchange.set_leverage(SWAP, 3)  # "No need to change margin type." is not an error
    margin_calls = binance_server.calls("/fapi/v1/marginType")
    assert [c.form["marginType"] for c in margin_calls] == ["ISOLATED", "ISOLATED"]
    assert binance_server.calls("/fapi/v1/leverage")[-1].form["leverage"] == "3"
    assert binance_server.leverage[SWAP] == 3 and binance_server.margin_modes[SWAP] == "ISOLATED"


def test_okx_positions_are_reported_in_base_units(okx_server):
    okx_server.open_position(SWAP, "short", D("0.05"), D(51_000), leverage=4)
    exchange = okx_server.exchange("swap")
    (position,) = exchange.fetch_positions([SWAP])
    assert (position.side, position.amount, position.leverage, position.entry_price) == (
        "short",
        D("0.05"),
        4,
        D(51_000),
    )
    exchange.set_leverage(SWAP, 7)
    sent = okx_server.calls("/api/v5/account/set-leverage")[0].body
    assert (sent["lever"], sent["mgnMode"], sent["instId"]) == (7, "isolated", "BTC-USDT-SWAP")


def test_spot_accounts_have_no_positions_or_leverage(binance_server):
    exchange = binance_server.exchange("spot")
    assert exchange.fetch_positions() == []
    with pytest.raises(InvalidOrder, match="spot markets have no leverage"):
        exchange.set_leverage(SPOT, 3)
    assert [r.path for r in binance_server.requests] == ["/api/v3/exchangeInfo"]


def test_ticker_and_candles(server):
    exchange = server.exchange("spot")
    ticker = exchange.fetch_ticker(SPOT)
    assert ticker.last == D(50_000) and ticker.bid < ticker.last < ticker.ask
    rows = exchange.fetch_ohlcv(SPOT, "1h", limit=3)
    assert len(rows) == 3 and rows[0][0] < rows[-1][0] and rows[-1][4] == 50_000.0


# --- errors and retries ------------------------------------------------------------------------------------

TRANSLATIONS = [
    (ccxt.RequestTimeout, RequestTimeout),
    (ccxt.NetworkError, TemporaryError),
    (ccxt.ExchangeNotAvailable, TemporaryError),
    (ccxt.OnMaintenance, TemporaryError),
    (ccxt.DDoSProtection, RateLimited),
    (ccxt.RateLimitExceeded, RateLimited),
    (ccxt.AuthenticationError, AuthenticationError),
    (ccxt.PermissionDenied, AuthenticationError),
    (ccxt.AccountSuspended, AuthenticationError),
    (ccxt.InsufficientFunds, InsufficientFunds),
    (ccxt.InvalidOrder, InvalidOrder),
    (ccxt.OrderImmediatelyFillable, InvalidOrder),
    (ccxt.BadSymbol, UnknownSymbol),
    (ccxt.OrderNotFound, OrderNotFound),
    (ccxt.ExchangeError, ExchangeError),
    (ccxt.NotSupported, ExchangeError),
    (ccxt.BaseError, ExchangeError),
]


@pytest.mark.parametrize(("raised", "expected"), TRANSLATIONS, ids=[c.__name__ for c, _ in TRANSLATIONS])
def test_ccxt_errors_become_ours_and_only_reads_are_retried(binance_server, raised, expected):
    exchange = binance_server.exchange("spot", retries=3, backoff_s=0.5)
    exchange.load_markets()
    calls = {"read": 0, "create": 0}

    def failing(kind: str):
        def call(*args: Any, **kwargs: Any) -> Any:
            calls[kind] += 1
            raise raised(f'binance {{"code":-1,"msg":"boom {kind}"}}')

        return call

    exchange.client.fetch_balance = failing("read")
    exchange.client.create_order = failing("create")
    with pytest.raises(expected) as read_error:
        exchange.fetch_balance()
    assert type(read_error.value) is expected
    assert read_error.value.message == "binance: cannot fetch the balance: boom read"
    temporary = issubclass(expected, TemporaryError)
    assert calls["read"] == (4 if temporary else 1)
    assert binance_server.sleeps == ([0.5, 1.0, 2.0] if temporary else [])
    with pytest.raises(expected):
        exchange.create_order(order(SPOT, "buy", "limit", "0.001", "Tfail", price="40000"))
    assert calls["create"] == 1  # never re-sent blindly


SERVER_FAULTS = [
    # venue, fault, call, expected error, requests to the path, path
    ("binance", "rate_limit", "balance", RateLimited, 4, "/api/v3/account"),
    ("binance", "server_error", "balance", None, 3, "/api/v3/account"),
    ("binance", "reject_keys", "balance", AuthenticationError, 1, "/api/v3/account"),
    ("binance", "rate_limit", "create", RateLimited, 1, "/api/v3/order"),
    ("binance", "server_error", "create", TemporaryError, 1, "/api/v3/order"),
    ("binance", None, "create_too_big", InsufficientFunds, 1, "/api/v3/order"),
    ("binance", None, "fetch_unknown", OrderNotFound, 1, "/api/v3/order"),
    ("binance", "delist", "ticker", UnknownSymbol, 1, "/api/v3/ticker/24hr"),
    ("binance_swap", None, "create_too_big", InsufficientFunds, 1, "/fapi/v1/order"),  # -2019: the futures table
    ("okx", "rate_limit", "balance", RateLimited, 4, "/api/v5/account/balance"),
    ("okx", "reject_keys", "balance", AuthenticationError, 1, "/api/v5/account/balance"),
    ("okx", None, "create_too_big", InsufficientFunds, 1, "/api/v5/trade/batch-orders"),
    ("okx", None, "fetch_unknown", OrderNotFound, 1, "/api/v5/trade/order-algo"),
    ("okx", "delist", "ticker", UnknownSymbol, 1, "/api/v5/market/ticker"),
]


@pytest.mark.parametrize(("venue", "fault", "call", "expected", "attempts", "path"), SERVER_FAULTS)
def test_exchange_error_answers(binance_server, okx_server, venue, fault, call, expected, attempts, path):
    server = okx_server if venue == "okx" else binance_server
    swap = venue.endswith("swap")
    exchange = server.exchange("swap" if swap else "spot")
    symbol = SWAP if swap else SPOT
    exchange.load_markets()
    if fault == "rate_limit":
        server.rate_limit(10, path=path)
    elif fault == "server_error":
        server.server_error(2 if call == "balance" else 1, path=path)
    elif fault == "reject_keys":
        server.reject_keys = True
    elif fault == "delist":
        server.delist(symbol)
    actions = {
        "balance": lambda: exchange.fetch_balance(),
        "create": lambda: exchange.create_order(order(symbol, "buy", "limit", "0.001", "Tx", price="40000")),
        "create_too_big": lambda: exchange.create_order(order(symbol, "buy", "limit", "3", "Tbig", price="50000")),
        "fetch_unknown": lambda: exchange.fetch_order(symbol, client_order_id="Tnone"),
        "ticker": lambda: exchange.fetch_ticker(symbol),
    }
    if expected is None:
        actions[call]()
    else:
        with pytest.raises(expected) as caught:
            actions[call]()
        assert type(caught.value) is expected
        assert caught.value.message.startswith(f"{server.name}: cannot ")
    assert len(server.calls(path)) == attempts


def test_rate_limits_honour_retry_after(binance_server, okx_server):
    exchange = binance_server.exchange("spot", backoff_s=0.1)
    exchange.load_markets()
    binance_server.rate_limit(2, path="/api/v3/account")
    assert exchange.fetch_balance()
    assert binance_server.sleeps == [1.0, 1.0]  # Binance's Retry-After: 1 beats the 0.1 s and 0.2 s backoff
    with pytest.raises(RateLimited) as caught:
        binance_server.rate_limit(10)
        exchange.fetch_ticker(SPOT)
    assert caught.value.retry_after == 1.0 and caught.value.code == "-1003"


def test_bad_signatures_are_authentication_errors(binance_server, okx_server):
    with pytest.raises(AuthenticationError, match="Signature for this request is not valid"):
        binance_server.exchange("spot", secret="not-the-secret").fetch_balance()
    with pytest.raises(AuthenticationError, match="Invalid Sign") as caught:
        okx_server.exchange("spot", secret="not-the-secret").fetch_balance()
    assert caught.value.code == "50113"
    with pytest.raises(AuthenticationError, match="PASSPHRASE incorrect"):
        okx_server.exchange("spot", passphrase="wrong").fetch_balance()


def test_secrets_never_reach_our_error_messages(server):
    server.echo_requests = True  # the exchange quotes the request, headers included, in its error message
    server.reject_keys = True
    exchange = server.exchange("spot", timeout_ms=300)
    exchange.load_markets()
    errors: list[ExchangeError] = []
    for call in (
        exchange.fetch_balance,
        lambda: exchange.create_order(order(SPOT, "buy", "limit", "0.001", "Tsecret", price="40000")),
        lambda: exchange.fetch_order(SPOT, client_order_id="Tsecret"),
    ):
        with pytest.raises(ExchangeError) as caught:
            call()
        errors.append(caught.value)
    server.reject_keys = False
    server.delay_next_create(0.6)
    with pytest.raises(RequestTimeout) as timed_out:
        exchange.create_order(order(SPOT, "buy", "limit", "0.001", "Tslow", price="40000"))
    errors.append(timed_out.value)
    assert API_KEY in str(errors[0].__context__)  # ccxt's own message did carry it
    for error in errors:
        for text in (str(error), error.message):
            for secret in (API_KEY, SECRET, PASSPHRASE, "signature="):
                assert secret not in text, text
    assert "***" in errors[0].message
    assert timed_out.value.message == f"{server.name}: cannot place the order: no answer within 300 ms"


# --- a create that times out ---------------------------------------------------------------------------------


def test_a_create_that_times_out_raises_request_timeout_and_still_exists(server):
    exchange = server.exchange("spot", timeout_ms=250)
    exchange.load_markets()
    server.delay_next_create(0.6)
    with pytest.raises(RequestTimeout):
        exchange.create_order(order(SPOT, "buy", "limit", "0.001", "Tlate0", price="40000"))
    assert len(server.creates()) == 1 and server.order("Tlate0") is not None


def test_submit_finds_a_timed_out_order_by_its_client_id(server):
    exchange = server.exchange("spot", timeout_ms=250)
    exchange.load_markets()
    server.delay_next_create(0.6)
    state = submit_order(exchange, order(SPOT, "buy", "market", "0.001", "Tlate1"))
    assert (state.client_order_id, state.status, state.filled) == ("Tlate1", "closed", D("0.001"))
    assert len(server.creates()) == 1
    assert [o.client_id for o in server.orders] == ["Tlate1"]  # exactly one order on the exchange


def test_submit_resends_once_when_the_lookup_finds_nothing(server):
    exchange = server.exchange("spot")
    exchange.load_markets()
    server.server_error(1, path=server.create_paths[0] if server.name == "binance" else "/api/v5/trade/batch-orders")
    state = submit_order(exchange, order(SPOT, "buy", "limit", "0.001", "Tretry", price="40000"))
    assert (state.client_order_id, state.status) == ("Tretry", "open")
    creates = server.creates()
    assert len(creates) == 2
    assert {c.fields.get("newClientOrderId") or c.fields.get("clOrdId") for c in creates} == {"Tretry"}
    assert [o.client_id for o in server.orders] == ["Tretry"]


class ScriptedExchange:
    """Just enough of the protocol for ``submit_order``: each call pops its next outcome."""

    def __init__(self, creates: list[Any], lookups: list[Any]) -> None:
        self.creates, self.lookups = creates, lookups
        self.calls: list[str] = []

    def _next(self, outcomes: list[Any]) -> Any:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def create_order(self, request: OrderRequest) -> OrderState:
        self.calls.append("create")
        return self._next(self.creates)

    def fetch_order(
        self, symbol: str, *, exchange_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderState:
        self.calls.append(f"fetch {client_order_id}")
        return self._next(self.lookups)


def test_submit_reraises_the_timeout_when_the_lookup_fails_too():
    timeout = RequestTimeout("binance: cannot place the order: no answer within 250 ms")
    exchange = ScriptedExchange([timeout], [TemporaryError("binance: cannot fetch the order: 503")])
    with pytest.raises(RequestTimeout) as caught:
        submit_order(exchange, order(SPOT, "buy", "market", "0.001", "Tlost"))  # type: ignore[arg-type]
    assert caught.value is timeout
    assert exchange.calls == ["create", "fetch Tlost"]


def test_submit_does_not_look_up_errors_that_are_final():
    exchange = ScriptedExchange([InsufficientFunds("no money")], [])
    with pytest.raises(InsufficientFunds):
        submit_order(exchange, order(SPOT, "buy", "market", "0.001", "Tpoor"))  # type: ignore[arg-type]
    assert exchange.calls == ["create"]
