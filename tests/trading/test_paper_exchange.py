"""The paper exchange (pure: no database): its fills follow the backtest's rules to the last digit.

Every expectation is computed by hand: fee 0.1 %, slippage 5 bps (×1.0005 buying, ×0.9995 selling).
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from trading.exchanges.base import Market, OrderRequest
from trading.exchanges.errors import InsufficientFunds, InvalidOrder, OrderNotFound, UnknownSymbol
from trading.exchanges.paper import PaperBook, PaperExchange, PaperOrder

NOW = 1_704_067_200_000  # 2024-01-01 00:00 UTC
BTC = "BTC/USDT"
BTC_MARKET = Market(
    symbol=BTC,
    base="BTC",
    quote="USDT",
    amount_step=D("0.001"),
    price_step=D("0.01"),
    min_amount=D("0.001"),
    min_notional=D(5),
)
EXACT = Market(symbol=BTC, base="BTC", quote="USDT")  # no steps, no minimums (the replay's arithmetic)


class Prices(dict):
    def __call__(self, symbol: str) -> D:
        return self[symbol]


def paper(balance="10000", price="50000", market=BTC_MARKET, **kwargs) -> PaperExchange:
    prices = Prices({BTC: D(price)})
    exchange = PaperExchange(PaperBook(balance=D(balance)), {BTC: market}, price=prices, now_ms=lambda: NOW, **kwargs)
    exchange.prices = prices  # type: ignore[attr-defined]
    return exchange


_ids = iter(range(1, 10**9))


def order(exchange, side, amount, type_="market", *, trigger=None, price=None, reduce_only=False, cid=None):
    return exchange.create_order(
        OrderRequest(
            symbol=BTC,
            side=side,
            type=type_,
            amount=D(amount),
            client_order_id=cid or f"c{next(_ids)}",
            price=None if price is None else D(price),
            trigger_price=None if trigger is None else D(trigger),
            reduce_only=reduce_only,
        )
    )


def long_with_brackets(exchange, amount="0.1", stop="49000", target="52000"):
    """A long of ``amount`` filled at 50000 × 1.0005 = 50025, with a resting stop and target."""
    order(exchange, "buy", amount)
    sl = order(exchange, "sell", amount, "stop_market", trigger=stop, reduce_only=True, cid="sl") if stop else None
    tp = order(exchange, "sell", amount, "take_profit", trigger=target, reduce_only=True, cid="tp") if target else None
    return sl, tp


# --- market orders, fees, balance --------------------------------------------------------------------


def test_market_buy_fills_at_price_plus_slippage_and_pays_fee_on_notional():
    ex = paper()
    state = order(ex, "buy", "0.1", cid="entry")
    assert state.status == "closed"
    assert state.average == D("50025.0000")  # 50000 × 1.0005
    assert state.filled == D("0.1")
    assert state.fee == D("5.0025")  # 0.001 × 0.1 × 50025
    assert ex.book.balance == D("9994.9975")
    balance = ex.fetch_balance()["USDT"]
    assert (balance.total, balance.used, balance.free) == (D("9994.9975"), D("5002.5"), D("4992.4975"))
    (position,) = ex.fetch_positions()
    assert (position.side, position.amount, position.entry_price, position.margin) == (
        "long",
        D("0.1"),
        D("50025"),
        D("5002.5"),
    )
    assert position.liquidation_price is None  # an unleveraged long is never liquidated
    ex.prices[BTC] = D(51000)
    assert ex.fetch_positions()[0].unrealized_pnl == D("97.5")  # 0.1 × (51000 − 50025)
    (fill,) = ex.fills
    assert (fill.reason, fill.price, fill.fee, fill.opened.side) == ("market", D("50025"), D("5.0025"), "long")


def test_market_sell_opens_a_short_at_price_minus_slippage():
    ex = paper()
    state = order(ex, "sell", "0.1")
    assert state.average == D("49975.0000")  # 50000 × 0.9995
    assert state.fee == D("4.9975")
    assert ex.book.balance == D("9995.0025")
    (position,) = ex.fetch_positions()
    assert position.side == "short"
    assert position.liquidation_price == D("99950")  # 49975 × (1 + 1/1)


def test_close_long_realises_pnl_net_of_both_fees():
    ex = paper()
    order(ex, "buy", "0.1")
    ex.prices[BTC] = D(51000)
    state = order(ex, "sell", "0.1", reduce_only=True)
    assert state.average == D("50974.5000")  # 51000 × 0.9995
    assert state.fee == D("5.0974500")
    fill = ex.fills[-1]
    # gross 0.1 × (50974.5 − 50025) = 94.95; − exit fee 5.09745 − entry fee 5.0025
    assert fill.realized_pnl == D("84.8500500")
    assert fill.position_closed and fill.closed_side == "long" and fill.entry_price == D("50025")
    assert ex.book.balance == D("10084.8500500")  # 10000 + pnl
    assert ex.book.positions == {}
    assert ex.fetch_balance()["USDT"].used == 0


def test_leverage_holds_notional_over_leverage_as_margin():
    ex = paper()
    ex.set_leverage(BTC, 5)
    order(ex, "buy", "0.5")
    (position,) = ex.fetch_positions()
    assert position.margin == D("5002.5")  # 0.5 × 50025 / 5
    assert position.leverage == 5
    assert position.liquidation_price == D("40020.0")  # 50025 × (1 − 1/5)
    assert ex.book.balance == D("9974.9875")  # fee 0.001 × 25012.5
    with pytest.raises(InvalidOrder):
        ex.set_leverage(BTC, 0)


def test_partial_close_keeps_the_rest_of_the_margin_and_entry_fee():
    ex = paper()
    order(ex, "buy", "0.15")  # notional 7503.75, fee 7.50375
    ex.prices[BTC] = D(50000)
    order(ex, "sell", "0.1", reduce_only=True)  # fill 49975
    fill = ex.fills[-1]
    # gross 0.1 × (49975 − 50025) = −5; exit fee 4.9975; two thirds of the entry fee 5.0025
    assert fill.realized_pnl == D("-15.0000")
    assert not fill.position_closed
    (position,) = ex.book.positions.values()
    assert (position.amount, position.margin, position.entry_fee) == (D("0.05"), D("2501.25"), D("2.50125"))


# --- refusals ----------------------------------------------------------------------------------------


def test_reduce_only_with_nothing_to_reduce_is_rejected():
    ex = paper()
    with pytest.raises(InvalidOrder) as err:
        order(ex, "sell", "0.1", reduce_only=True)
    assert err.value.code == "reduce_only"
    order(ex, "buy", "0.1")
    with pytest.raises(InvalidOrder) as err:  # a buy does not reduce a long
        order(ex, "buy", "0.1", reduce_only=True)
    assert err.value.code == "reduce_only"


@pytest.mark.parametrize(
    ("market", "amount", "price", "code"),
    [
        (BTC_MARKET, "0.0015", "50000", "lot_size"),  # not a multiple of 0.001
        (BTC_MARKET, "0", "50000", "lot_size"),
        (BTC_MARKET, "-0.1", "50000", "lot_size"),
        (
            Market(symbol=BTC, base="BTC", quote="USDT", amount_step=D("0.001"), min_amount=D("0.01")),
            "0.005",
            "50000",
            "min_amount",
        ),
        (BTC_MARKET, "0.001", "4000", "min_notional"),  # 0.001 × 4000 = 4 USDT < 5
    ],
)
def test_size_rules_are_enforced(market, amount, price, code):
    ex = paper(market=market, price=price)
    with pytest.raises(InvalidOrder) as err:
        order(ex, "buy", amount)
    assert err.value.code == code
    assert ex.book.orders == {} and ex.book.positions == {} and ex.book.balance == D(10000)
    assert ex.book.next_seq == 1


def test_min_notional_message_names_the_value_and_the_minimum():
    ex = paper(price="4000")
    with pytest.raises(InvalidOrder, match=r"Order value 4\.00 USDT is below the minimum 5 USDT"):
        order(ex, "buy", "0.001")


def test_insufficient_funds_is_refused_and_changes_nothing():
    ex = paper(balance="1000")
    with pytest.raises(InsufficientFunds) as err:
        order(ex, "buy", "0.1")  # needs 5002.5 margin + 5.0025 fee
    assert "needs 5007.50 USDT" in err.value.message and "1000.00 USDT is free" in err.value.message
    assert ex.book.orders == {} and ex.book.positions == {} and ex.book.balance == D(1000)
    assert ex.book.next_seq == 1 and ex.fills == []


def test_funds_already_used_as_margin_are_not_free():
    ex = paper(balance="6000")
    order(ex, "buy", "0.1")  # margin 5002.5
    ex.prices[BTC] = D(50000)
    with pytest.raises(InsufficientFunds):
        order(ex, "buy", "0.1")


def test_unknown_symbol_and_bad_orders():
    ex = paper()
    with pytest.raises(UnknownSymbol, match="does not list ETH/USDT"):
        ex.create_order(OrderRequest(symbol="ETH/USDT", side="buy", type="market", amount=D(1), client_order_id="x"))
    with pytest.raises(UnknownSymbol):
        ex.fetch_ticker("ETH/USDT")
    with pytest.raises(InvalidOrder, match="client order id is required"):
        ex.create_order(OrderRequest(symbol=BTC, side="buy", type="market", amount=D("0.1"), client_order_id=""))
    with pytest.raises(InvalidOrder, match="needs a trigger price"):
        order(ex, "sell", "0.1", "stop_market")


def test_stop_that_would_trigger_at_once_is_refused():
    ex = paper()
    order(ex, "buy", "0.1")
    with pytest.raises(InvalidOrder) as err:
        order(ex, "sell", "0.1", "stop_market", trigger="50500", reduce_only=True)
    assert err.value.code == "would_trigger"
    with pytest.raises(InvalidOrder) as err:
        order(ex, "sell", "0.1", "take_profit", trigger="49000", reduce_only=True)
    assert err.value.code == "would_trigger"


def test_duplicate_client_order_id_is_refused():
    ex = paper()
    order(ex, "buy", "0.1", cid="same")
    with pytest.raises(InvalidOrder) as err:
        order(ex, "sell", "0.1", reduce_only=True, cid="same")
    assert err.value.code == "duplicate"


def test_duplicate_client_order_id_known_only_to_the_store_is_refused():
    stored = PaperOrder("P99", "old", BTC, "buy", "market", "closed", D("0.1"))
    ex = paper(find_order=lambda exchange_id, client_id: stored if "old" in (exchange_id, client_id) else None)
    with pytest.raises(InvalidOrder, match="Duplicate client order id old"):
        order(ex, "buy", "0.1", cid="old")
    assert ex.fetch_order(BTC, client_order_id="old").exchange_order_id == "P99"


# --- fetch, cancel --------------------------------------------------------------------------------


def test_fetch_order_by_exchange_id_and_client_id_and_cancel():
    ex = paper()
    order(ex, "buy", "0.1", cid="entry")
    sl = order(ex, "sell", "0.1", "stop_market", trigger="49000", reduce_only=True, cid="sl")
    assert sl.status == "open" and sl.exchange_order_id == "P2"
    assert ex.fetch_order(BTC, exchange_order_id="P2") == ex.fetch_order(BTC, client_order_id="sl")
    assert ex.fetch_order(BTC, client_order_id="entry").status == "closed"
    assert [o.client_order_id for o in ex.fetch_open_orders(BTC)] == ["sl"]
    with pytest.raises(OrderNotFound):
        ex.fetch_order(BTC, client_order_id="nope")
    with pytest.raises(OrderNotFound):
        ex.fetch_order(BTC, exchange_order_id="P77")
    canceled = ex.cancel_order(BTC, client_order_id="sl")
    assert (canceled.status, canceled.reason) == ("canceled", "canceled by request")
    assert ex.fetch_open_orders() == []
    with pytest.raises(OrderNotFound):
        ex.cancel_order(BTC, exchange_order_id="P2")  # not open any more
    # With the stop gone, a price below it fills nothing.
    assert ex.on_price(BTC, D(48000), NOW + 1) == []


def test_limit_order_rests_then_fills_at_its_price():
    ex = paper()
    state = order(ex, "buy", "0.1", "limit", price="49000")
    assert state.status == "open"
    assert ex.on_price(BTC, D(49500), NOW) == []
    (fill,) = ex.on_candle(BTC, D(49500), D(49600), D(48900), NOW)
    assert (fill.price, fill.reason, fill.fee) == (D(49000), "limit", D("4.9000"))


# --- stops and targets on a new price (a candle's open or a ticker): the gap rule ------------------


def test_on_price_between_the_levels_fills_nothing():
    ex = paper()
    long_with_brackets(ex)
    assert ex.on_price(BTC, D(49001), NOW) == []
    assert ex.on_price(BTC, D(51999), NOW) == []
    assert len(ex.fetch_open_orders()) == 2


def test_on_price_gapping_through_the_stop_fills_at_that_price_with_slippage():
    ex = paper()
    long_with_brackets(ex)
    (fill,) = ex.on_price(BTC, D(48000), NOW + 1)
    assert fill.reason == "stop_loss"
    assert fill.order.client_order_id == "sl"
    assert fill.price == D("47976.0000")  # 48000 × 0.9995, not the 49000 trigger
    # gross 0.1 × (47976 − 50025) = −204.9; exit fee 4.7976; entry fee 5.0025
    assert fill.realized_pnl == D("-214.7001000")
    assert ex.book.balance == D("9785.2999000")
    assert ex.book.orders["P3"].status == "canceled"  # the target, one-cancels-other
    assert ex.book.orders["P3"].reason == "position closed"
    assert ex.fetch_open_orders() == []


def test_on_price_gapping_through_the_target_fills_at_that_better_price_without_slippage():
    ex = paper()
    long_with_brackets(ex)
    (fill,) = ex.on_price(BTC, D(53000), NOW + 1)
    assert (fill.reason, fill.price, fill.order.client_order_id) == ("take_profit", D(53000), "tp")
    # gross 0.1 × (53000 − 50025) = 297.5; exit fee 5.3; entry fee 5.0025
    assert fill.realized_pnl == D("287.1975")
    assert ex.book.orders["P2"].status == "canceled"  # the stop
    assert ex.book.positions == {}


def test_on_price_exactly_at_the_stop_triggers_it():
    ex = paper()
    long_with_brackets(ex)
    (fill,) = ex.on_price(BTC, D(49000), NOW + 1)
    assert (fill.reason, fill.price) == ("stop_loss", D("48975.5000"))


# --- stops and targets inside a candle --------------------------------------------------------------


def test_on_candle_stop_fills_at_the_trigger_with_slippage():
    ex = paper()
    long_with_brackets(ex)
    (fill,) = ex.on_candle(BTC, D(50100), D(50500), D(48900), NOW)
    assert (fill.reason, fill.price) == ("stop_loss", D("48975.5000"))  # 49000 × 0.9995
    # gross 0.1 × (48975.5 − 50025) = −104.95; exit fee 4.89755; entry fee 5.0025
    assert fill.realized_pnl == D("-114.8500500")
    assert ex.book.balance == D("9885.1499500")


def test_on_candle_target_fills_at_the_trigger_without_slippage():
    ex = paper()
    long_with_brackets(ex)
    (fill,) = ex.on_candle(BTC, D(50100), D(52100), D(49500), NOW)
    assert (fill.reason, fill.price) == ("take_profit", D(52000))
    assert fill.realized_pnl == D("187.2975")  # 197.5 − 5.2 − 5.0025
    assert ex.book.orders["P2"].status == "canceled"


def test_on_candle_opening_beyond_the_stop_fills_at_the_open():
    ex = paper()
    long_with_brackets(ex)
    (fill,) = ex.on_candle(BTC, D(48500), D(48600), D(48000), NOW)
    assert fill.price == D("48475.7500")  # min(49000, 48500) × 0.9995


def test_on_candle_short_stop_and_target_mirror():
    ex = paper()
    order(ex, "sell", "0.1")  # 49975
    order(ex, "buy", "0.1", "stop_market", trigger="51000", reduce_only=True, cid="sl")
    order(ex, "buy", "0.1", "take_profit", trigger="48000", reduce_only=True, cid="tp")
    (fill,) = ex.on_candle(BTC, D(50000), D(51200), D(49000), NOW)
    assert (fill.reason, fill.price) == ("stop_loss", D("51025.5000"))  # 51000 × 1.0005
    # gross −0.1 × (51025.5 − 49975) = −105.05; exit fee 5.10255; entry fee 4.9975
    assert fill.realized_pnl == D("-115.1500500")

    ex = paper()
    order(ex, "sell", "0.1")
    order(ex, "buy", "0.1", "stop_market", trigger="51000", reduce_only=True, cid="sl")
    order(ex, "buy", "0.1", "take_profit", trigger="48000", reduce_only=True, cid="tp")
    (fill,) = ex.on_candle(BTC, D(50000), D(50500), D(47900), NOW)
    assert (fill.reason, fill.price) == ("take_profit", D(48000))
    assert fill.realized_pnl == D("187.7025")  # 0.1 × 1975 − 4.8 − 4.9975


BOTH = (D(50100), D(52100), D(48900))  # open, high, low: reaches the stop (49000) and the target (52000)


@pytest.mark.parametrize(
    ("intrabar", "reason"),
    [
        ((), "stop_loss"),  # no lower timeframe: the stop first (conservative)
        (((D(51000), D(49500)), (D(52100), D(50000)), (D(51000), D(48900))), "take_profit"),  # target first
        (((D(50500), D(48900)), (D(52100), D(50000))), "stop_loss"),  # stop first
        (((D(50500), D(49500)), (D(52100), D(48900))), "stop_loss"),  # one lower candle touches both
        (((D(50500), D(49500)),), "stop_loss"),  # lower candles touch neither: the stop
    ],
)
def test_on_candle_touching_both_stop_first_unless_intrabar_says_otherwise(intrabar, reason):
    ex = paper()
    long_with_brackets(ex)
    (fill,) = ex.on_candle(BTC, *BOTH, NOW, intrabar)
    assert fill.reason == reason
    assert fill.price == (D("48975.5000") if reason == "stop_loss" else D(52000))
    assert ex.fetch_open_orders() == []  # the other leg is canceled


# --- liquidation -------------------------------------------------------------------------------------


def test_liquidation_at_entry_times_one_minus_one_over_leverage_loss_capped_at_margin():
    ex = paper()
    ex.set_leverage(BTC, 5)
    order(ex, "buy", "0.5")  # entry 50025, margin 5002.5, fee 25.0125, liquidation 40020
    assert ex.on_candle(BTC, D(45000), D(45500), D("40020.01"), NOW) == []
    (fill,) = ex.on_candle(BTC, D(45000), D(45500), D(39000), NOW)
    assert fill.reason == "liquidation"
    assert fill.price == D("39999.9900")  # 40020 × 0.9995
    assert fill.order.client_order_id.startswith("liquidation-")
    # gross 0.5 × (39999.99 − 50025) = −5012.505, capped at −5002.5; exit fee 19.999995
    assert fill.realized_pnl == D("-5047.5124950")  # −5002.5 − 19.999995 − 25.0125
    assert ex.book.balance == D("4952.4875050")
    assert ex.book.positions == {}


def test_liquidation_by_a_gap_fills_at_the_price_but_still_loses_only_the_margin():
    ex = paper()
    ex.set_leverage(BTC, 5)
    order(ex, "buy", "0.5")
    (fill,) = ex.on_price(BTC, D(30000), NOW)
    assert (fill.reason, fill.price) == ("liquidation", D("29985.0000"))
    assert ex.book.balance == D("4957.4950000")  # 9974.9875 − 5002.5 − 14.9925


def test_stop_beyond_the_liquidation_price_liquidation_fires_first_and_cancels_the_stop():
    ex = paper()
    ex.set_leverage(BTC, 10)
    order(ex, "buy", "0.1")  # margin 500.25, liquidation 45022.5
    order(ex, "sell", "0.1", "stop_market", trigger="43000", reduce_only=True, cid="far-stop")
    (fill,) = ex.on_candle(BTC, D(50000), D(50100), D(44000), NOW)
    assert fill.reason == "liquidation"
    assert fill.price == D("44999.98875")  # 45022.5 × 0.9995
    # gross 0.1 × (44999.98875 − 50025) = −502.5 capped at the margin 500.25; exit fee 4.499998875
    assert fill.realized_pnl == D("-509.752498875")
    assert ex.book.orders["P2"].status == "canceled"


def test_stop_inside_the_liquidation_price_is_the_active_stop():
    ex = paper()
    ex.set_leverage(BTC, 10)
    order(ex, "buy", "0.1")
    order(ex, "sell", "0.1", "stop_market", trigger="49000", reduce_only=True, cid="near-stop")
    (fill,) = ex.on_candle(BTC, D(50000), D(50100), D(44000), NOW)
    assert (fill.reason, fill.price, fill.order.client_order_id) == ("stop_loss", D("48975.5000"), "near-stop")


def test_short_liquidation_above_the_entry():
    ex = paper()
    ex.set_leverage(BTC, 4)
    order(ex, "sell", "0.4")  # entry 49975, margin 4997.5, liquidation 49975 × 1.25 = 62468.75
    assert ex.fetch_positions()[0].liquidation_price == D("62468.75")
    (fill,) = ex.on_candle(BTC, D(50000), D(63000), D(49900), NOW)
    assert (fill.reason, fill.price) == ("liquidation", D("62499.984375"))  # 62468.75 × 1.0005
    # gross capped at −4997.5; exit fee 0.4 × 62499.984375 × 0.001 = 24.99999375; entry fee 19.99
    assert fill.realized_pnl == D("-5042.48999375")


def test_balance_never_goes_negative():
    ex = paper(balance="1000", market=EXACT)
    ex.set_leverage(BTC, 10)
    order(ex, "buy", "0.1979")  # notional 9899.9475: margin 989.99475 + fee 9.8999475 of the 1000
    assert ex.book.balance == D("990.1000525")
    (fill,) = ex.on_price(BTC, D(40000), NOW)  # beyond the liquidation price 45022.5
    assert fill.reason == "liquidation"
    # −989.99475 − exit fee 7.911042 would leave −7.8057395: cut to 0, the pnl is the whole 1000
    assert ex.book.balance == 0
    assert fill.realized_pnl == D(-1000)


# --- one-cancels-other, settle -----------------------------------------------------------------------


def test_closing_the_position_by_a_market_order_cancels_its_reduce_only_orders():
    ex = paper()
    long_with_brackets(ex)
    order(ex, "sell", "0.1", reduce_only=True, cid="exit")
    assert ex.fetch_open_orders() == []
    assert {ex.book.orders[k].status for k in ("P2", "P3")} == {"canceled"}
    assert ex.fetch_order(BTC, client_order_id="sl").reason == "position closed"


def test_settle_closes_at_the_price_without_slippage():
    ex = paper()
    long_with_brackets(ex)
    (fill,) = ex.settle(BTC, D(51000), NOW + 5)
    assert (fill.reason, fill.price, fill.time_ms) == ("end", D(51000), NOW + 5)
    assert fill.realized_pnl == D("87.3975")  # 97.5 − 5.1 − 5.0025
    assert ex.book.positions == {} and ex.fetch_open_orders() == []
    assert ex.settle(BTC, D(51000), NOW + 6) == []  # nothing left to settle
