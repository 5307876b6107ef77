"""The backtest engine on hand-built frames with exact fills, and on the real BTC/USDT 1h candles (no database)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from strategies.backtest import LEVEL_COLUMNS, BacktestError, BacktestSettings, _core, run_backtest
from strategies.backtest.metrics import equity_metrics, trade_metrics
from tests.strategies.conftest import BTC_5M, read

T0 = pd.Timestamp("2024-01-01", tz="UTC")
COLUMNS = ("long_entry", "long_exit", "short_entry", "short_exit")
# Fee 0.1 %, slippage 10 bps, 10 % of 10,000 as margin, no SL/TP unless a test sets them.
BASE = BacktestSettings(slippage_bps=10.0, stop_loss_pct=None, take_profit_pct=None)
SLIP = 0.001
FEE = 0.001


def candles(bars, freq="1h", start=T0):
    index = pd.date_range(start, periods=len(bars), freq=freq)
    frame = pd.DataFrame(bars, columns=["open", "high", "low", "close"], index=index, dtype=float)
    frame["volume"] = 1.0
    return frame


def signals(frame, **bars):
    out = pd.DataFrame(False, index=frame.index, columns=list(COLUMNS))
    for name, positions in bars.items():
        out.iloc[list(positions), out.columns.get_loc(name)] = True
    return out


def flat(price, n):
    return [(price, price + 1, price - 1, price)] * n


def only_trade(result):
    assert len(result.trades) == 1, result.trades
    return result.trades.iloc[0]


def check_books(result, initial=10_000.0):
    """Final equity is initial capital plus the sum of trade pnl; equity never negative."""
    assert result.equity.iloc[-1] == pytest.approx(initial + result.trades["pnl"].sum(), abs=1e-6)
    assert (result.equity >= 0).all()
    assert (result.trades["exit_time"] >= result.trades["entry_time"]).all()


# --- fills -------------------------------------------------------------------------------------


def test_long_fills_at_next_open_with_slippage_and_fees():
    c = candles([(100, 101, 99, 100), (102, 103, 101, 102), (104, 105, 103, 104), (106, 107, 105, 106)])
    result = run_backtest(c, signals(c, long_entry=[0], long_exit=[2]), BASE)
    trade = only_trade(result)
    entry = 102 * (1 + SLIP)
    exit_ = 106 * (1 - SLIP)
    size = 1000 / entry
    fees = 1000 * FEE + size * exit_ * FEE
    pnl = size * (exit_ - entry) - fees
    assert trade["side"] == "long"
    assert trade["entry_time"] == c.index[1] and trade["exit_time"] == c.index[3]
    assert trade["entry_price"] == pytest.approx(entry, rel=1e-12)
    assert trade["exit_price"] == pytest.approx(exit_, rel=1e-12)
    assert trade["size"] == pytest.approx(size, rel=1e-12)
    assert trade["notional"] == pytest.approx(1000.0)
    assert trade["fees"] == pytest.approx(fees, rel=1e-12)
    assert trade["pnl"] == pytest.approx(pnl, rel=1e-12)
    assert trade["return_pct"] == pytest.approx(pnl / 1000 * 100, rel=1e-12)
    assert trade["exit_reason"] == "signal"
    assert trade["bars_held"] == 2
    expected = [10_000, 9_999 + size * (102 - entry), 9_999 + size * (104 - entry), 10_000 + pnl]
    np.testing.assert_allclose(result.equity.to_numpy(), expected, rtol=1e-12)
    assert result.equity.index.equals(c.index)
    check_books(result)


def test_short_fills_mirrored():
    c = candles([(100, 101, 99, 100), (102, 103, 101, 102), (98, 99, 97, 98), (96, 97, 95, 96)])
    result = run_backtest(c, signals(c, short_entry=[0], short_exit=[2]), replace(BASE, direction="short"))
    trade = only_trade(result)
    entry = 102 * (1 - SLIP)
    exit_ = 96 * (1 + SLIP)
    size = 1000 / entry
    pnl = size * (entry - exit_) - 1000 * FEE - size * exit_ * FEE
    assert trade["side"] == "short"
    assert trade["entry_price"] == pytest.approx(entry, rel=1e-12)
    assert trade["exit_price"] == pytest.approx(exit_, rel=1e-12)
    assert trade["pnl"] == pytest.approx(pnl, rel=1e-12)
    assert pnl > 0
    check_books(result)


def test_signal_on_last_bar_is_not_filled():
    c = candles(flat(100, 3))
    result = run_backtest(c, signals(c, long_entry=[2]), BASE)
    assert result.trades.empty
    assert (result.equity == 10_000).all()
    assert result.metrics["trades"] == 0


def test_open_position_closed_at_last_close_as_end():
    c = candles([(100, 101, 99, 100), (100, 101, 99, 100), (103, 106, 102, 105)])
    result = run_backtest(c, signals(c, long_entry=[0]), BASE)
    trade = only_trade(result)
    entry = 100 * (1 + SLIP)
    size = 1000 / entry
    assert trade["exit_reason"] == "end"
    assert trade["exit_price"] == 105  # the last close, no slippage
    assert trade["exit_time"] == c.index[2]
    assert trade["pnl"] == pytest.approx(size * (105 - entry) - 1000 * FEE - size * 105 * FEE, rel=1e-12)
    check_books(result)


# --- stop loss and take profit -----------------------------------------------------------------

SLTP = replace(BASE, stop_loss_pct=2.0, take_profit_pct=4.0)
ENTRY = 100 * (1 + SLIP)  # long entry at the open of bar 1 (100)
SL_PX = ENTRY * 0.98
TP_PX = ENTRY * 1.04


def long_case(bar2, settings=SLTP, intrabar=None):
    c = candles([(100, 100, 100, 100), (100, 101, 99.5, 100), bar2, (100, 100, 100, 100)])
    return c, run_backtest(c, signals(c, long_entry=[0]), settings, intrabar=intrabar)


def test_stop_loss_fills_at_level_with_slippage():
    _, result = long_case((99, 100, 97, 98))
    trade = only_trade(result)
    assert trade["exit_reason"] == "stop_loss"
    assert trade["exit_price"] == pytest.approx(SL_PX * (1 - SLIP), rel=1e-12)
    assert trade["bars_held"] == 1
    size = 1000 / ENTRY
    assert trade["pnl"] == pytest.approx(size * (trade["exit_price"] - ENTRY) - 1 - size * trade["exit_price"] * FEE)
    assert result.metrics["ambiguous_bars"] == 0
    check_books(result)


def test_take_profit_fills_at_its_limit_price():
    _, result = long_case((101, 105, 99.5, 104))
    trade = only_trade(result)
    assert trade["exit_reason"] == "take_profit"
    assert trade["exit_price"] == pytest.approx(TP_PX, rel=1e-12)
    check_books(result)


def test_gap_through_stop_fills_at_open_with_slippage():
    _, result = long_case((95, 96, 94, 95))
    trade = only_trade(result)
    assert trade["exit_reason"] == "stop_loss"
    assert trade["exit_price"] == pytest.approx(95 * (1 - SLIP), rel=1e-12)


def test_gap_beyond_take_profit_fills_at_open():
    _, result = long_case((110, 111, 109, 110))
    trade = only_trade(result)
    assert trade["exit_reason"] == "take_profit"
    assert trade["exit_price"] == 110


def test_stop_checked_on_the_entry_bar():
    c = candles([(100, 100, 100, 100), (100, 101, 97, 100), (100, 100, 100, 100)])
    result = run_backtest(c, signals(c, long_entry=[0]), SLTP)
    trade = only_trade(result)
    assert trade["exit_reason"] == "stop_loss" and trade["bars_held"] == 0


# --- trailing stop (rule 11) -----------------------------------------------------------------------

TRAIL = replace(BASE, stop_loss_pct=5.0, trailing_stop_pct=2.0)
RISE = [(100, 100, 100, 100), (100, 101, 99.5, 100.5), (101, 104, 100.5, 103.5), (103, 103.2, 101.5, 102),
        (102, 102, 101.8, 102), (102, 102, 102, 102)]  # fmt: skip


def test_trailing_stop_follows_the_highest_high_and_fills_behind_it():
    c = candles(RISE)
    trade = only_trade(run_backtest(c, signals(c, long_entry=[0]), TRAIL))
    # After bar 2 the best high is 104: the stop moves to 104 - 2 % of the entry; bar 3 (low 101.5) reaches it.
    assert trade["exit_reason"] == "stop_loss" and trade["exit_time"] == c.index[3]
    assert trade["exit_price"] == pytest.approx((104 - 0.02 * ENTRY) * (1 - SLIP), rel=1e-12)


def test_trailing_stop_moves_after_the_close_and_never_back():
    # The bar that makes the new high (104) and then falls to 101.9 does not stop the trade: the stop moves
    # only after its close; the next bar opening below the moved stop fills at its open.
    c = candles([(100, 100, 100, 100), (100, 101, 99.5, 100.5), (101, 104, 101.9, 102), (101, 101, 100, 100),
                 (100, 100, 100, 100)])  # fmt: skip
    trade = only_trade(run_backtest(c, signals(c, long_entry=[0]), TRAIL))
    assert trade["exit_time"] == c.index[3]
    assert trade["exit_price"] == pytest.approx(101 * (1 - SLIP), rel=1e-12)


def test_trailing_stop_waits_for_its_activation_and_mirrors_for_shorts():
    c = candles(RISE)
    waiting = run_backtest(c, signals(c, long_entry=[0]), replace(TRAIL, trailing_activation_pct=5.0))
    assert only_trade(waiting)["exit_reason"] == "end"  # the best high (104) never reached entry + 5 %
    fall = candles([(200 - a, 200 - lo, 200 - h, 200 - cl) for a, h, lo, cl in RISE])
    short = replace(TRAIL, direction="short")
    trade = only_trade(run_backtest(fall, signals(fall, short_entry=[0]), short))
    entry = 100 * (1 - SLIP)
    assert trade["exit_time"] == fall.index[3]
    assert trade["exit_price"] == pytest.approx((96 + 0.02 * entry) * (1 + SLIP), rel=1e-12)


# --- levels the strategy gives bar by bar (rule 13) ---------------------------------------------------------------


def with_levels(frame, **given):
    """The level columns, NaN except ``name=(a, b or a list of b per bar)``."""
    n = len(frame)
    columns = {name: np.full(n, np.nan) for name in LEVEL_COLUMNS}
    for name, (a, b) in given.items():
        columns[f"{name}_a"] = np.full(n, float(a))
        columns[f"{name}_b"] = np.asarray(b, dtype=float) if np.ndim(b) else np.full(n, float(b))
    return frame.assign(**columns)


def test_strategy_stop_takes_the_signal_bars_level_then_moves_after_each_close():
    # A stop 3 below each bar's low (a = 0, b = low − 3): the entry takes bar 0's (97), bar 1's close moves it to
    # 96.5, bar 2's to 99.5 (it may loosen or tighten as the strategy says); bar 3 (low 99) reaches it.
    c = candles([(100, 100, 100, 100), (100, 101, 99.5, 100.5), (101, 104, 102.5, 103.5), (103, 103.2, 99, 102),
                 (102, 102, 102, 102)])  # fmt: skip
    frame = with_levels(signals(c, long_entry=[0]), long_stop=(0.0, c["low"].to_numpy() - 3))
    trade = only_trade(run_backtest(c, frame, replace(BASE, stop_loss_pct=1.0)))  # the settings' stop is replaced
    assert trade["exit_reason"] == "stop_loss" and trade["exit_time"] == c.index[3]
    assert trade["exit_price"] == pytest.approx(99.5 * (1 - SLIP), rel=1e-12)
    # The entry bar is checked against the signal bar's level: 97 is not touched by bar 1 (low 99.5) …
    at_entry = with_levels(signals(c, long_entry=[0]), long_stop=(0.0, [99.6, 0, 0, 0, 0]))
    # … a level of 99.6 is: stopped on the entry bar.
    trade = only_trade(run_backtest(c, at_entry, BASE))
    assert trade["bars_held"] == 0 and trade["exit_price"] == pytest.approx(99.6 * (1 - SLIP), rel=1e-12)


def test_strategy_levels_count_from_the_entry_price_and_mirror_for_shorts():
    # A short with a stop at entry + 2 (a = 1, b = 2) and a target at 97 % of the entry (a = 0.97, b = 0).
    c = candles([(100, 100, 100, 100), (100, 100.5, 99, 100), (100, 101, 96, 97), (97, 97, 97, 97)])
    frame = with_levels(signals(c, short_entry=[0]), short_stop=(1.0, 2.0), short_target=(0.97, 0.0))
    trade = only_trade(run_backtest(c, frame, replace(BASE, direction="short")))
    entry = 100 * (1 - SLIP)
    assert trade["exit_reason"] == "take_profit" and trade["exit_price"] == pytest.approx(0.97 * entry, rel=1e-12)
    stopped = with_levels(signals(c, short_entry=[0]), short_stop=(1.0, 0.5), short_target=(0.97, 0.0))
    trade = only_trade(run_backtest(c, stopped, replace(BASE, direction="short")))  # bar 1's high 100.5 ≥ entry + .5
    assert trade["exit_reason"] == "stop_loss" and trade["bars_held"] == 0
    assert trade["exit_price"] == pytest.approx((entry + 0.5) * (1 + SLIP), rel=1e-12)


def test_strategy_level_columns_are_checked():
    c = candles(flat(100, 4))
    frame = with_levels(signals(c, long_entry=[0]), long_stop=(1.0, 0.0))
    with pytest.raises(BacktestError, match="lacks the column"):
        run_backtest(c, frame.drop(columns=["short_target_b"]), BASE)
    with pytest.raises(BacktestError, match="only one of its two numbers"):
        run_backtest(c, frame.assign(long_stop_b=np.nan), BASE)
    with pytest.raises(BacktestError, match="infinite"):
        run_backtest(c, frame.assign(long_stop_b=np.inf), BASE)


# --- pyramiding (rule 2) ---------------------------------------------------------------------------------


def test_pyramiding_adds_entries_up_to_the_limit_and_closes_them_together():
    c = candles([(100, 100, 100, 100), (100, 101, 99.5, 100), (110, 111, 109, 110), (120, 121, 119, 120),
                 (130, 131, 129, 130), (140, 141, 139, 140)])  # fmt: skip
    settings = replace(BASE, pyramiding=2)
    result = run_backtest(c, signals(c, long_entry=[0, 1, 2], long_exit=[3]), settings)
    trades = result.trades
    assert len(trades) == 2  # the third entry signal finds two entries held: ignored
    first, second = trades.iloc[0], trades.iloc[1]
    assert (first["entry_time"], second["entry_time"]) == (c.index[1], c.index[2])
    assert first["exit_time"] == second["exit_time"] == c.index[4]
    assert first["exit_price"] == second["exit_price"] == pytest.approx(130 * (1 - SLIP))
    size1 = 1000 / (100 * (1 + SLIP))
    cash = 10_000 - FEE * 1000
    equity = cash + size1 * (110 - 100 * (1 + SLIP))  # marked at the second entry's open
    assert second["notional"] == pytest.approx(equity * 0.1, rel=1e-12)
    assert second["size"] == pytest.approx(equity * 0.1 / (110 * (1 + SLIP)), rel=1e-12)
    check_books(result)


def test_pyramided_stop_follows_the_average_entry():
    c = candles([(100, 100, 100, 100), (100, 101, 99.5, 100), (110, 111, 109, 110), (108, 108, 102, 103),
                 (106, 106, 106, 106)])  # fmt: skip
    settings = replace(BASE, pyramiding=2, stop_loss_pct=2.0)
    trades = run_backtest(c, signals(c, long_entry=[0, 1]), settings).trades
    e1, e2 = 100 * (1 + SLIP), 110 * (1 + SLIP)
    s1, s2 = trades["size"]
    average = (s1 * e1 + s2 * e2) / (s1 + s2)
    assert list(trades["exit_reason"]) == ["stop_loss", "stop_loss"]
    assert trades["exit_price"].iloc[0] == pytest.approx(average * 0.98 * (1 - SLIP), rel=1e-12)
    assert run_backtest(c, signals(c, long_entry=[0, 1]), replace(settings, pyramiding=1)).trades.shape[0] == 1


def test_short_stop_and_take_profit_mirrored():
    settings = replace(SLTP, direction="short")
    c = candles([(100, 100, 100, 100), (100, 100.5, 99, 100), (100, 103, 99, 101), (100, 100, 100, 100)])
    trade = only_trade(run_backtest(c, signals(c, short_entry=[0]), settings))
    entry = 100 * (1 - SLIP)
    assert trade["exit_reason"] == "stop_loss"
    assert trade["exit_price"] == pytest.approx(entry * 1.02 * (1 + SLIP), rel=1e-12)
    c = candles([(100, 100, 100, 100), (100, 100.5, 99, 100), (99, 100, 95, 96), (100, 100, 100, 100)])
    trade = only_trade(run_backtest(c, signals(c, short_entry=[0]), settings))
    assert trade["exit_reason"] == "take_profit"
    assert trade["exit_price"] == pytest.approx(entry * 0.96, rel=1e-12)


BOTH = (100, 106, 97, 100)  # bar 2 touches both the stop (98.098) and the target (104.104)


def intrabar_for(c, rows):
    """15-minute candles inside bar 2 of ``c``."""
    return candles(rows, freq="15min", start=c.index[2])


def test_bar_touching_both_takes_the_stop_first():
    _, result = long_case(BOTH)
    assert only_trade(result)["exit_reason"] == "stop_loss"
    assert result.metrics["ambiguous_bars"] == 1
    assert result.metrics["ambiguous_resolved_intrabar"] == 0


def test_intrabar_showing_take_profit_first_gives_take_profit():
    c = candles([(100, 100, 100, 100), (100, 101, 99.5, 100), BOTH, (100, 100, 100, 100)])
    lower = intrabar_for(c, [(100, 101, 99, 101), (101, 106, 100, 103), (103, 103, 97, 98), (98, 100, 98, 100)])
    _, result = long_case(BOTH, intrabar=lower)
    trade = only_trade(result)
    assert trade["exit_reason"] == "take_profit"
    assert trade["exit_price"] == pytest.approx(TP_PX, rel=1e-12)
    assert result.metrics["ambiguous_bars"] == 1
    assert result.metrics["ambiguous_resolved_intrabar"] == 1


def test_intrabar_showing_stop_first_gives_stop():
    c = candles([(100, 100, 100, 100), (100, 101, 99.5, 100), BOTH, (100, 100, 100, 100)])
    lower = intrabar_for(c, [(100, 101, 97, 98), (98, 106, 98, 103), (103, 103, 99, 100), (100, 100, 99, 100)])
    _, result = long_case(BOTH, intrabar=lower)
    assert only_trade(result)["exit_reason"] == "stop_loss"
    assert result.metrics["ambiguous_resolved_intrabar"] == 1


def test_intrabar_candle_touching_both_or_missing_data_gives_stop():
    c = candles([(100, 100, 100, 100), (100, 101, 99.5, 100), BOTH, (100, 100, 100, 100)])
    lower = intrabar_for(c, [(100, 106, 97, 100)])
    _, result = long_case(BOTH, intrabar=lower)
    assert only_trade(result)["exit_reason"] == "stop_loss"
    assert result.metrics["ambiguous_resolved_intrabar"] == 0
    # lower-timeframe data only for other bars (bar 3) says nothing about bar 2
    elsewhere = candles([(100, 106, 99, 100)], freq="15min", start=c.index[3])
    _, result = long_case(BOTH, intrabar=elsewhere)
    assert only_trade(result)["exit_reason"] == "stop_loss"
    assert result.metrics["ambiguous_resolved_intrabar"] == 0


# --- leverage and liquidation ------------------------------------------------------------------

LEV10 = replace(BASE, slippage_bps=0.0, leverage=10)


def test_liquidation_at_10x():
    c = candles([(100, 100, 100, 100), (100, 101, 99, 100), (95, 96, 89, 90), (90, 90, 90, 90)])
    result = run_backtest(c, signals(c, long_entry=[0]), LEV10)
    trade = only_trade(result)
    # margin 1,000, notional 10,000, size 100; liquidation at 100 × (1 − 1/10) = 90
    assert trade["notional"] == pytest.approx(10_000)
    assert trade["size"] == pytest.approx(100)
    assert trade["exit_reason"] == "liquidation"
    assert trade["exit_price"] == pytest.approx(90)
    assert trade["fees"] == pytest.approx(10 + 9)
    assert trade["pnl"] == pytest.approx(-1000 - 19)
    assert trade["return_pct"] == pytest.approx(-101.9)
    check_books(result)


def test_liquidation_loss_capped_at_margin_on_a_gap():
    c = candles([(100, 100, 100, 100), (100, 101, 99, 100), (80, 81, 79, 80), (80, 80, 80, 80)])
    trade = only_trade(run_backtest(c, signals(c, long_entry=[0]), LEV10))
    assert trade["exit_reason"] == "liquidation"
    assert trade["exit_price"] == 80
    assert trade["pnl"] == pytest.approx(-1000 - 10 - 8)  # margin plus both fees, not 20 % of notional


def test_nearer_stop_fires_before_liquidation():
    c = candles([(100, 100, 100, 100), (100, 101, 99, 100), (95, 96, 89, 90), (90, 90, 90, 90)])
    trade = only_trade(run_backtest(c, signals(c, long_entry=[0]), replace(LEV10, stop_loss_pct=2.0)))
    assert trade["exit_reason"] == "stop_loss"  # the bar opens at 95, beyond the stop at 98
    assert trade["exit_price"] == 95


def test_stop_gapped_past_the_liquidation_price_is_a_liquidation():
    # stop at 98, liquidation at 90, and the bar opens at 80: the position is gone, it loses its margin only
    c = candles([(100, 100, 100, 100), (100, 101, 99, 100), (80, 81, 79, 80), (80, 80, 80, 80)])
    result = run_backtest(c, signals(c, long_entry=[0]), replace(LEV10, stop_loss_pct=2.0))
    trade = only_trade(result)
    assert trade["exit_reason"] == "liquidation"
    assert trade["exit_price"] == 80
    assert trade["pnl"] == pytest.approx(-1000 - 10 - 8)
    check_books(result)


def test_short_liquidation_and_long_never_liquidated_at_1x():
    c = candles([(100, 100, 100, 100), (100, 101, 99, 100), (105, 111, 104, 110), (110, 110, 110, 110)])
    trade = only_trade(run_backtest(c, signals(c, short_entry=[0]), replace(LEV10, direction="short")))
    assert trade["exit_reason"] == "liquidation"
    assert trade["exit_price"] == pytest.approx(110)
    c = candles([(100, 100, 100, 100), (100, 101, 99, 100), (50, 51, 1, 2), (2, 2, 2, 2)])
    trade = only_trade(run_backtest(c, signals(c, long_entry=[0]), replace(LEV10, leverage=1)))
    assert trade["exit_reason"] == "end"


def test_equity_never_negative_under_repeated_liquidations():
    bars = []
    for _ in range(40):
        bars += [(100, 100, 100, 100), (100, 160, 100, 150)]  # +50 % against a 10x short each time
    c = candles(bars)
    sig = signals(c, short_entry=range(0, len(bars), 2))
    settings = replace(LEV10, direction="short", position_size_pct=20.0, slippage_bps=50.0)
    result = run_backtest(c, sig, settings)
    assert len(result.trades) == 40
    assert set(result.trades["exit_reason"]) == {"liquidation"}
    assert (result.equity > 0).all()
    assert result.equity.is_monotonic_decreasing
    check_books(result)


# --- direction, reversal -----------------------------------------------------------------------


def test_reversal_with_direction_both():
    c = candles([(100, 101, 99, 100), (100, 101, 99, 100), (102, 103, 101, 102), (104, 105, 103, 104), (103,) * 4])
    result = run_backtest(c, signals(c, long_entry=[0], short_entry=[2]), replace(BASE, direction="both"))
    trades = result.trades
    assert list(trades["side"]) == ["long", "short"]
    assert list(trades["exit_reason"]) == ["reversal", "end"]
    assert trades["exit_time"].iloc[0] == trades["entry_time"].iloc[1] == c.index[3]
    assert trades["exit_price"].iloc[0] == pytest.approx(104 * (1 - SLIP))
    assert trades["entry_price"].iloc[1] == pytest.approx(104 * (1 - SLIP))
    # the short is sized on the equity after the long closed
    equity_after_long = 10_000 + trades["pnl"].iloc[0]
    assert trades["notional"].iloc[1] == pytest.approx(equity_after_long * 0.10)
    check_books(result)


def test_short_signals_ignored_when_long_only():
    c = candles(flat(100, 5))
    assert run_backtest(c, signals(c, short_entry=[0], short_exit=[2]), BASE).trades.empty
    result = run_backtest(c, signals(c, long_entry=[0], short_entry=[2]), BASE)
    assert only_trade(result)["exit_reason"] == "end"  # short_entry neither closes nor reverses a long


def test_long_signals_ignored_when_short_only():
    c = candles(flat(100, 5))
    assert run_backtest(c, signals(c, long_entry=[0]), replace(BASE, direction="short")).trades.empty


def test_no_pyramiding_and_no_reentry_from_a_noop_signal():
    c = candles([(100, 100, 100, 100), (100, 101, 99.5, 100), (100, 101, 99.5, 100), (95, 96, 94, 95), (95,) * 4])
    # long from bar 1; repeated long_entry on bars 1 and 2 is ignored; bar 3 gaps through the stop
    result = run_backtest(c, signals(c, long_entry=[0, 1, 2]), SLTP)
    trade = only_trade(result)
    assert trade["exit_reason"] == "stop_loss" and trade["exit_time"] == c.index[3]


# --- outputs -----------------------------------------------------------------------------------


def test_buy_and_hold():
    c = candles([(100, 101, 99, 100), (102, 103, 101, 103), (104, 105, 103, 110)])
    result = run_backtest(c, signals(c), BASE)
    units = 10_000 * (1 - FEE) / 100
    np.testing.assert_allclose(result.buy_hold.to_numpy(), units * np.array([100, 103, 110]), rtol=1e-12)
    assert result.buy_hold.index.equals(c.index)
    assert result.metrics["buy_hold_return_pct"] == pytest.approx((units * 110 / 10_000 - 1) * 100)


def test_metrics_on_a_known_equity_curve():
    day = 86_400_000
    equity = np.array([100.0, 110.0, 99.0, 108.9])
    m = equity_metrics(equity, 100.0, span_ms=4 * day, bar_ms=day)
    returns = np.array([0.1, -0.1, 0.1])
    assert m["total_return_pct"] == pytest.approx(8.9)
    assert m["cagr_pct"] == pytest.approx((1.089 ** (365 / 4) - 1) * 100)
    assert m["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(365))
    assert m["sortino"] == pytest.approx(returns.mean() / math.sqrt(0.01 / 3) * math.sqrt(365))
    assert m["max_drawdown_pct"] == pytest.approx(10.0)
    assert m["calmar"] == pytest.approx(m["cagr_pct"] / 10.0)
    t = trade_metrics(np.array([10.0, -5.0, 20.0, -5.0]), np.array([1.0, 1.0, 1.0, 1.0]))
    assert t == {
        "win_rate_pct": 50.0,
        "profit_factor": 3.0,
        "trades": 4,
        "avg_win": 15.0,
        "avg_loss": -5.0,
        "fees_paid": 4.0,
    }
    flat_curve = equity_metrics(np.full(5, 100.0), 100.0, span_ms=5 * day, bar_ms=day)
    assert flat_curve["sharpe"] is None and flat_curve["calmar"] is None and flat_curve["max_drawdown_pct"] == 0


def test_metrics_are_json_safe_and_complete():
    c = candles(flat(100, 10))
    metrics = run_backtest(c, signals(c), BASE).metrics
    json.dumps(metrics, allow_nan=False)
    assert set(metrics) == {
        "total_return_pct", "cagr_pct", "sharpe", "sortino", "max_drawdown_pct", "calmar", "win_rate_pct",
        "profit_factor", "trades", "avg_win", "avg_loss", "exposure_pct", "fees_paid", "buy_hold_return_pct",
        "ambiguous_bars", "ambiguous_resolved_intrabar",
    }  # fmt: skip
    assert metrics["trades"] == 0 and metrics["win_rate_pct"] is None and metrics["profit_factor"] is None


def test_exposure():
    c = candles(flat(100, 10))
    result = run_backtest(c, signals(c, long_entry=[0], long_exit=[4]), BASE)
    assert only_trade(result)["bars_held"] == 4
    assert result.metrics["exposure_pct"] == pytest.approx(50.0)  # bars 1..5 (closed at bar 5's open)


def test_gaps_reported_not_filled():
    c = candles(flat(100, 8))
    c = c.drop(c.index[[3, 4]])  # two missing hours
    result = run_backtest(c, signals(c), BASE, timeframe="1h")
    assert result.gaps == [(c.index[2], c.index[3], 2)]
    assert len(result.equity) == 6
    assert run_backtest(c, signals(c), BASE).gaps == result.gaps  # median spacing
    assert run_backtest(c, signals(c), BASE, timeframe="4h").gaps == []


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"leverage": 0}, "Leverage must be a whole number from 1 to 10"),
        ({"leverage": 50}, "Leverage must be a whole number from 1 to 10"),
        ({"leverage": 2.5}, "Leverage must be a whole number from 1 to 10"),
        ({"position_size_pct": 25}, "Position size must be from 5 to 20"),
        ({"position_size_pct": 4}, "Position size must be from 5 to 20"),
        ({"fee_rate": -0.001}, "Fee rate"),
        ({"slippage_bps": -1}, "Slippage"),
        ({"stop_loss_pct": 0}, "Stop loss"),
        ({"take_profit_pct": -1}, "Take profit"),
        ({"direction": "sideways"}, "Direction must be one of long, short, both"),
        ({"initial_capital": 0}, "Initial capital"),
        ({"trailing_stop_pct": 0}, "Trailing stop"),
        ({"trailing_stop_pct": 100}, "Trailing stop"),
        ({"trailing_activation_pct": -1}, "Trailing activation"),
        ({"pyramiding": 0}, "Pyramiding must be a whole number from 1 to 10"),
        ({"pyramiding": 11}, "Pyramiding must be a whole number from 1 to 10"),
        ({"pyramiding": 2.0}, "Pyramiding must be a whole number from 1 to 10"),
    ],
)
def test_settings_validation(changes, message):
    settings = replace(BacktestSettings(), **changes)
    with pytest.raises(BacktestError, match=message):
        settings.validate()
    c = candles(flat(100, 3))
    with pytest.raises(BacktestError, match=message):
        run_backtest(c, signals(c), settings)


def test_defaults_are_valid_and_not_frictionless():
    settings = BacktestSettings()
    settings.validate()
    assert settings.fee_rate == 0.001 and settings.slippage_bps == 5.0
    replace(settings, leverage=10, position_size_pct=20, stop_loss_pct=None, direction="both").validate()


def test_bad_frames():
    c = candles(flat(100, 4))
    with pytest.raises(BacktestError, match="no candles"):
        run_backtest(c.iloc[:0], signals(c).iloc[:0], BASE)
    with pytest.raises(BacktestError, match="same index"):
        run_backtest(c, signals(c).iloc[1:], BASE)
    with pytest.raises(BacktestError, match="short_exit"):
        run_backtest(c, signals(c).drop(columns="short_exit"), BASE)
    with pytest.raises(BacktestError, match="close"):
        run_backtest(c.drop(columns="close"), signals(c), BASE)
    with pytest.raises(BacktestError, match="Unknown timeframe"):
        run_backtest(c, signals(c), BASE, timeframe="hourly")


# --- the real BTC/USDT 1h candles --------------------------------------------------------------


def ema_cross(frame):
    fast = frame["close"].ewm(span=12, adjust=False).mean()
    slow = frame["close"].ewm(span=26, adjust=False).mean()
    above = fast > slow
    up = above & ~above.shift(1, fill_value=True)
    down = ~above & above.shift(1, fill_value=False)
    return pd.DataFrame({"long_entry": up, "long_exit": down, "short_entry": down, "short_exit": up})


@pytest.mark.parametrize(
    "engine_settings",
    [BacktestSettings(), BacktestSettings(direction="both", leverage=5, position_size_pct=20, stop_loss_pct=None)],
)
def test_real_btc_1h(btc_1h, engine_settings):
    result = run_backtest(btc_1h, ema_cross(btc_1h), engine_settings, timeframe="1h")
    trades = result.trades
    assert len(trades) > 100
    check_books(result)
    assert (trades["fees"] > 0).all()
    assert (trades["entry_time"].iloc[1:].to_numpy() >= trades["exit_time"].iloc[:-1].to_numpy()).all()
    assert result.metrics["fees_paid"] == pytest.approx(trades["fees"].sum())
    assert len(result.gaps) == 10 and sum(g[2] for g in result.gaps) == 20
    json.dumps(result.metrics, allow_nan=False)


def test_real_btc_1h_with_5m_intrabar(btc_1h):
    window = btc_1h.loc["2024-03-01":"2024-04-30"]
    settings = BacktestSettings(stop_loss_pct=0.5, take_profit_pct=0.5)
    plain = run_backtest(window, ema_cross(window), settings, timeframe="1h")
    fine = run_backtest(window, ema_cross(window), settings, intrabar=read(BTC_5M), timeframe="1h")
    assert plain.metrics["ambiguous_bars"] > 0
    assert plain.metrics["ambiguous_resolved_intrabar"] == 0
    assert 0 < fine.metrics["ambiguous_resolved_intrabar"] <= fine.metrics["ambiguous_bars"]
    check_books(fine)


def test_warm_up_runs_the_kernel():
    assert _core.warm_up() >= 0


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_any_datetime_unit_and_naive_index(unit):
    c = candles([(100, 101, 99, 100), (102, 103, 101, 102), (104, 105, 103, 104), (106, 107, 105, 106)])
    expected = run_backtest(c, signals(c, long_entry=[0], long_exit=[2]), BASE)
    c.index = c.index.as_unit(unit).tz_localize(None)
    result = run_backtest(c, signals(c, long_entry=[0], long_exit=[2]), BASE, timeframe="1h")
    pd.testing.assert_series_equal(result.trades["pnl"], expected.trades["pnl"])
    assert result.trades["entry_time"].iloc[0] == c.index[1]
    assert result.gaps == []


def test_engine_imports_no_django():
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys; import strategies.backtest, strategies.backtest.metrics\n"
        "leaked = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not leaked, leaked\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
