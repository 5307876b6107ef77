"""The pure parts of the live path: ``engine.decide`` (the backtest's rule 2) and the router (risk
envelope, deterministic client order ids, sizing, protective levels)."""

from __future__ import annotations

import itertools
import string
from decimal import Decimal as D

import numpy as np
import pandas as pd
import pytest

from strategies.backtest import BacktestSettings, run_backtest
from trading.bots import engine
from trading.exchanges.base import Market
from trading.execution import router

SIGNALS = ("long_entry", "long_exit", "short_entry", "short_exit")
COMBOS = [dict(zip(SIGNALS, bits, strict=True)) for bits in itertools.product((False, True), repeat=4)]
HELD = (None, "long", "short")
DIRECTIONS = ("long", "short", "both")


def restated(signal: dict, held: str | None, direction: str) -> engine.Decision:
    """Rule 2 of ``strategies.backtest``, written again from its text."""
    longs_ok = direction != "short"
    shorts_ok = direction != "long"
    le, lx, se, sx = (signal[k] for k in SIGNALS)
    if held is None:
        want_long = longs_ok and le and not lx  # an entry whose own exit is set is a conflict
        want_short = shorts_ok and se and not sx
        if want_long and want_short:  # long and short together while flat: a conflict
            return engine.Decision()
        return engine.Decision(entry="long" if want_long else "short" if want_short else None)
    if held == "long":
        close = lx or (shorts_ok and se)  # the opposite entry closes with direction "both"
        reverse = shorts_ok and se and not sx
    else:
        close = sx or (longs_ok and le)
        reverse = longs_ok and le and not lx
    new = ("short" if held == "long" else "long") if reverse else None
    return engine.Decision(exit=close, exit_reason=("reversal" if new else "signal") if close else "", entry=new)


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("held", HELD)
@pytest.mark.parametrize("signal", COMBOS, ids=lambda s: "".join("1" if s[k] else "0" for k in SIGNALS))
def test_decide_matches_the_restated_rule(signal, held, direction):
    assert engine.decide(signal, held=held, direction=direction) == restated(signal, held, direction)


def test_decide_refuses_an_unknown_direction_and_treats_missing_signals_as_false():
    with pytest.raises(ValueError, match="direction"):
        engine.decide({}, held=None, direction="sideways")
    assert engine.decide({}, held="long", direction="both").is_noop
    assert engine.decide({"long_entry": True}, held=None, direction="long") == engine.Decision(entry="long")


# --- the same truth table, read off the backtest kernel itself ---------------------------------------

N = 5
INDEX = pd.date_range("2024-01-01", periods=N, freq="1h", tz="UTC")
FLAT = pd.DataFrame({"open": 100.0, "high": 100.0, "low": 100.0, "close": 100.0, "volume": 1.0}, index=INDEX)


def backtest_decision(signal: dict, held: str | None, direction: str) -> engine.Decision:
    """Bar 0 opens the held position (filled at bar 1's open), bar 1 carries ``signal`` (when flat,
    bar 0 does); what happens at the next open is the decision. Flat prices, no SL/TP: nothing else
    closes a trade before the end."""
    frame = pd.DataFrame(False, index=INDEX, columns=list(SIGNALS))
    if held is None:
        at = 0
    else:
        frame.loc[INDEX[0], "long_entry" if held == "long" else "short_entry"] = True
        at = 1
    for name, value in signal.items():
        frame.loc[INDEX[at], name] = value
    settings = BacktestSettings(stop_loss_pct=None, take_profit_pct=None, direction=direction)
    trades = run_backtest(FLAT, frame, settings).trades
    acted = INDEX[at + 1]
    if held is None:
        opened = trades[trades.entry_time == acted]
        return engine.Decision(entry=opened.side.iloc[0] if len(opened) else None)
    first = trades.iloc[0]
    assert first.side == held and first.entry_time == INDEX[1]
    exited = first.exit_time == acted
    opened = trades[(trades.entry_time == acted)]
    return engine.Decision(
        exit=bool(exited),
        exit_reason=first.exit_reason if exited else "",
        entry=opened.side.iloc[0] if len(opened) else None,
    )


REACHABLE = [
    (held, direction)
    for held in HELD
    for direction in DIRECTIONS
    if held is None or direction == "both" or direction == held  # a long is never held with direction "short"
]


@pytest.mark.parametrize(("held", "direction"), REACHABLE)
def test_decide_matches_the_backtest_kernel(held, direction):
    mismatches = []
    for signal in COMBOS:
        expected = backtest_decision(signal, held, direction)
        got = engine.decide(signal, held=held, direction=direction)
        if got != expected:
            mismatches.append((signal, expected, got))
    assert not mismatches, mismatches


# --- the risk envelope -------------------------------------------------------------------------------

LIMITS = router.Envelope(
    max_leverage=3, max_position_size_pct=D(15), default_stop_loss_pct=D(2), default_take_profit_pct=D(4)
)


def test_requests_above_the_limits_are_clamped_and_listed():
    capped = router.apply_envelope(router.Request(leverage=50, position_size_pct=D(100)), LIMITS)
    assert (capped.leverage, capped.position_size_pct) == (3, D(15))
    assert (capped.stop_loss_pct, capped.take_profit_pct) == (D(2), D(4))
    notes = [(a.field, a.requested, a.applied, a.action) for a in capped.adjustments]
    assert notes == [
        ("leverage", "50", "3", "clamped"),
        ("position_size_pct", "100", "15", "clamped"),
        ("stop_loss_pct", "none", "2", "defaulted"),
        ("take_profit_pct", "none", "4", "defaulted"),
    ]
    assert str(capped.adjustments[0]) == "leverage: clamped 50 → 3"


def test_the_platform_bounds_apply_whatever_the_user_set():
    generous = router.Envelope(max_leverage=50, max_position_size_pct=D(90))
    capped = router.apply_envelope(
        router.Request(leverage=25, position_size_pct=D(60), stop_loss_pct=D(9), take_profit_pct=D(1)), generous
    )
    assert (capped.leverage, capped.position_size_pct) == (router.LEVERAGE_MAX, D(20))
    assert (capped.stop_loss_pct, capped.take_profit_pct) == (D(5), D(2))


def test_fractional_leverage_is_rounded_down():
    capped = router.apply_envelope(router.Request(leverage=D("2.5"), position_size_pct=D(10)), LIMITS)
    assert capped.leverage == 2
    note = capped.adjustments[0]
    assert (note.field, note.requested, note.applied) == ("leverage", "2.5", "2")


def test_requests_within_the_limits_pass_unchanged():
    request = router.Request(leverage=2, position_size_pct=D(10), stop_loss_pct=D("1.5"), take_profit_pct=D(3))
    capped = router.apply_envelope(request, LIMITS)
    assert capped == router.Capped(2, D(10), D("1.5"), D(3), ())


def test_a_smaller_size_than_usual_is_kept_as_asked():
    capped = router.apply_envelope(router.Request(leverage=1, position_size_pct=D("2.5")), LIMITS)
    assert capped.position_size_pct == D("2.5")
    assert not [a for a in capped.adjustments if a.field == "position_size_pct"]


def test_absent_stops_without_defaults():
    capped = router.apply_envelope(router.Request(leverage=1, position_size_pct=D(10), use_default_stops=False), LIMITS)
    assert (capped.stop_loss_pct, capped.take_profit_pct, capped.adjustments) == (None, None, ())


def test_absent_leverage_and_size_take_the_limits():
    capped = router.apply_envelope(router.Request(), LIMITS)
    assert (capped.leverage, capped.position_size_pct) == (3, D(15))


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (router.Request(leverage=0), "leverage"),
        (router.Request(leverage=-2), "leverage"),
        (router.Request(leverage=D("0.5")), "leverage"),
        (router.Request(leverage=D("NaN")), "leverage"),
        (router.Request(leverage=D("Infinity")), "leverage"),
        (router.Request(leverage="lots"), "leverage"),
        (router.Request(position_size_pct=D(0)), "position_size_pct"),
        (router.Request(position_size_pct=D(-5)), "position_size_pct"),
        (router.Request(position_size_pct=D("NaN")), "position_size_pct"),
        (router.Request(stop_loss_pct=D(0)), "stop_loss_pct"),
        (router.Request(take_profit_pct=D(-1)), "take_profit_pct"),
    ],
)
def test_impossible_requests_are_refused(request_, field):
    with pytest.raises(router.RouterError) as err:
        router.apply_envelope(request_, LIMITS)
    assert err.value.code == field
    assert "refused" in err.value.message or "not a number" in err.value.message


# --- client order ids --------------------------------------------------------------------------------


def test_client_order_id_is_deterministic_short_and_alphanumeric():
    first = router.client_order_id("bot:7", 1_704_067_200_000, "entry")
    assert first == router.client_order_id("bot:7", 1_704_067_200_000, "entry")
    ids = {
        router.client_order_id(scope, candle, leg)
        for scope in ("bot:7", "bot:8", "position:7")
        for candle in (1_704_067_200_000, 1_704_070_800_000, "close")
        for leg in ("entry", "exit", "sl0", "tp0", "sl1", "halt")
    }
    assert len(ids) == 3 * 3 * 6
    allowed = set(string.ascii_letters + string.digits)
    for value in ids:
        assert 1 <= len(value) <= 32  # OKX clOrdId: up to 32 letters and digits
        assert set(value) <= allowed
        assert value[0].isalpha()


# --- sizing --------------------------------------------------------------------------------------------

BTC = Market(
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    amount_step=D("0.00001"),
    price_step=D("0.01"),
    min_amount=D("0.00001"),
    min_notional=D(5),
)


def capped(leverage=1, size=10):
    return router.Capped(leverage=leverage, position_size_pct=D(size), stop_loss_pct=D(2), take_profit_pct=D(4))


def test_size_entry_is_the_backtests_sizing_rounded_down_to_the_step():
    # margin 1000; the expected fill 50000 × 1.0005 = 50025; 1000 / 50025 = 0.0199900… → 0.01999
    sized = router.size_entry(
        market=BTC, side="buy", equity=D(10000), capped=capped(), price=D(50000), slippage_bps=D(5)
    )
    assert sized == router.Sized(amount=D("0.01999"), notional=D("999.99975"), margin=D("999.99975"))
    # a short expects 50000 × 0.9995 = 49975: 1000 / 49975 = 0.0200100… → 0.02001
    sized = router.size_entry(
        market=BTC, side="sell", equity=D(10000), capped=capped(), price=D(50000), slippage_bps=D(5)
    )
    assert sized.amount == D("0.02001")
    # leverage 3: notional 3000 → 0.0599700… → 0.05997; margin = notional / 3
    sized = router.size_entry(
        market=BTC, side="buy", equity=D(10000), capped=capped(3), price=D(50000), slippage_bps=D(5)
    )
    assert (sized.amount, sized.notional, sized.margin) == (D("0.05997"), D("2999.99925"), D("999.99975"))


def test_size_entry_refuses_below_the_minimum_notional_with_a_clear_message():
    # margin 4 USDT → 0.00007 BTC (rounded down) worth 3.50175 USDT
    with pytest.raises(router.RouterError) as err:
        router.size_entry(market=BTC, side="buy", equity=D(40), capped=capped(), price=D(50000), slippage_bps=D(5))
    assert err.value.code == "min_notional"
    assert err.value.message == "The order value 3.50 USDT is below the market's minimum 5 USDT."


def test_size_entry_refuses_a_size_that_rounds_to_nothing_or_no_balance():
    with pytest.raises(router.RouterError) as err:
        router.size_entry(market=BTC, side="buy", equity=D("0.002"), capped=capped(), price=D(50000), slippage_bps=D(5))
    assert err.value.code == "min_amount"
    assert "below the market's minimum 0.00001" in err.value.message
    for equity in (D(0), D(-1)):
        with pytest.raises(router.RouterError, match="no balance"):
            router.size_entry(market=BTC, side="buy", equity=equity, capped=capped(), price=D(50000), slippage_bps=D(5))


def test_size_entry_on_an_exact_market_is_the_backtests_arithmetic():
    exact = Market(symbol="BTC/USDT", base="BTC", quote="USDT")
    sized = router.size_entry(
        market=exact, side="buy", equity=D(10000), capped=capped(), price=D(50000), slippage_bps=D(5)
    )
    assert sized.amount * D(50025) == pytest.approx(D(1000), abs=D("1e-20"))
    assert np.isclose(float(sized.notional), 1000.0)


# --- protective levels ---------------------------------------------------------------------------------


def test_protective_levels_from_the_entry_fill_rounded_to_the_price_step():
    assert router.protective_levels(
        market=BTC, side="long", entry_price=D(50025), stop_loss_pct=D(2), take_profit_pct=D(4)
    ) == (
        D("49024.50"),
        D("52026.00"),
    )
    assert router.protective_levels(
        market=BTC, side="short", entry_price=D(49975), stop_loss_pct=D(2), take_profit_pct=D(4)
    ) == (
        D("50974.50"),
        D("47976.00"),
    )
    # 50025.37 × 0.985 = 49274.98945 → 49274.99 (half up); × 1.03 = 51526.1311 → 51526.13
    assert router.protective_levels(
        market=BTC, side="long", entry_price=D("50025.37"), stop_loss_pct=D("1.5"), take_profit_pct=D(3)
    ) == (D("49274.99"), D("51526.13"))
    assert router.protective_levels(
        market=BTC, side="long", entry_price=D(50025), stop_loss_pct=None, take_profit_pct=None
    ) == (
        None,
        None,
    )


def test_expected_fill_and_with_leverage():
    assert router.expected_fill("buy", D(100), D(5)) == D("100.0500")
    assert router.expected_fill("sell", D(100), D(5)) == D("99.9500")
    assert router.with_leverage(capped(), 7).leverage == 7
