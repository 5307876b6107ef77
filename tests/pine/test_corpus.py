"""The community-style corpus (issue 15): ``tests/pine/corpus/*.pine``, each compiled by the Pine engine, gives
the signals of an independent calculation written here in plain pandas/numpy (with the indicators that are
checked against TA-Lib), and therefore the same trades in Trendy's backtest. The scripts cover the subset:
inputs, crossovers, short-only, ``var`` counters with ``:=`` and ``else if``, ``switch``, a user function
returning a tuple, ``na`` handling, ``strategy.exit`` with stop and target, reversals, a ``for`` loop,
``ta.barssince``, ``strategy.close_all``, ``ta.bb``/``ta.macd`` tuples, trailing stops and exits in ticks, v5 and
v6."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from strategies import indicators as ta
from strategies.backtest import LEVEL_COLUMNS, BacktestSettings, run_backtest
from strategies.pine.compile import PineCompileError, compile_script
from strategies.pine.source import read

CORPUS = Path(__file__).parent / "corpus"
OHLCV = Path(__file__).resolve().parents[3] / "shared" / "data" / "ohlcv"
BASE = {"initial_capital": 10_000.0, "fee_rate": 0.0, "slippage_bps": 5.0, "leverage": 1, "position_size_pct": 10.0,
        "stop_loss_pct": None, "take_profit_pct": None, "direction": "long"}  # fmt: skip


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return pd.read_csv(
        OHLCV / "binance_ETHUSDT_1h.csv.gz", parse_dates=["timestamp"], index_col="timestamp", nrows=8000
    )


def prev(x: pd.Series, k: int = 1) -> pd.Series:
    return x.shift(k)


def cross_up(a, b) -> pd.Series:
    return ta.crossover(a, b)


def cross_down(a, b) -> pd.Series:
    return ta.crossunder(a, b)


def signals(index, long_entry=None, long_exit=None, short_entry=None, short_exit=None) -> pd.DataFrame:
    none = pd.Series(False, index=index)
    given = {"long_entry": long_entry, "long_exit": long_exit, "short_entry": short_entry, "short_exit": short_exit}
    frame = pd.DataFrame({name: none if value is None else value for name, value in given.items()})
    return frame.fillna(False).astype(bool)


def sma_cross_inputs(c):
    fast, slow = ta.sma(c.close, 10), ta.sma(c.close, 30)
    return signals(c.index, cross_up(fast, slow), cross_down(fast, slow)), {"fee_rate": 0.001}


def rsi_short_only(c):
    r = ta.rsi(c.close, 14)
    return signals(c.index, short_entry=cross_down(r, 70), short_exit=cross_up(r, 30)), {"direction": "short"}


def var_streaks(c):
    ups, downs, u, d = [], [], 0, 0
    close = c.close.to_numpy()
    for t in range(len(close)):
        if t and close[t] > close[t - 1]:
            u, d = u + 1, 0
        elif t and close[t] < close[t - 1]:
            u, d = 0, d + 1
        ups.append(u)
        downs.append(d)
    ups, downs = pd.Series(ups, index=c.index), pd.Series(downs, index=c.index)
    return signals(c.index, ups == 3, downs >= 2), {}


def switch_modes(c):
    basis = ta.ema(c.close, 50)
    return signals(c.index, cross_up(c.close, basis), cross_down(c.close, basis)), {}


def channel_function(c):
    upper, lower = ta.highest(c.high, 20), ta.lowest(c.low, 20)
    return signals(c.index, c.close > prev(upper), c.close < prev(lower)), {}


def na_handling(c):
    m = ta.sma(c.close, 20)
    late = pd.Series(np.arange(len(c)) >= 100, index=c.index)
    filtered = m.where(late, c.close).fillna(c.close)
    x_valid = late & m.notna()
    return signals(c.index, x_valid & cross_up(c.close, filtered), cross_down(c.close, filtered)), {}


def exit_percent(c):
    fast, slow = ta.ema(c.close, 12), ta.ema(c.close, 26)
    return signals(c.index, cross_up(fast, slow)), {"stop_loss_pct": 3.0, "take_profit_pct": 5.0, "fee_rate": 0.001}


def macd_both_ways(c):
    hist = ta.macd(c.close, 12, 26, 9)["hist"]
    return signals(c.index, long_entry=cross_up(hist, 0), short_entry=cross_down(hist, 0)), {"direction": "both"}


def for_momentum(c):
    close = c.close
    score = sum(np.where(prev(close, i) > prev(close, i + 1), 1, -1) for i in range(5))
    score = pd.Series(score, index=c.index)
    return signals(c.index, score >= 3, score <= -3), {}


def barssince_pullback(c):
    since = ta.barssince(c.close < c.open)
    trend = c.close > ta.sma(c.close, 50)
    # strategy.close_all() closes whatever is held: the exit of a long and of a short alike.
    return signals(c.index, trend & (since == 3), ~trend, short_exit=~trend), {}


def atr_breakout(c):
    atr = ta.atr(c.high, c.low, c.close, 14)
    body = (c.close - c.open).abs()
    entry = (body > 1.5 * atr) & (c.close > c.open) & (c.close.diff() > 0)
    return signals(c.index, entry, c.close < prev(ta.lowest(c.low, 5))), {}


def bb_tuple(c):
    bands = ta.bollinger(c.close, 20, 2.0)
    exit_ = cross_down(c.close, bands["upper"]) | (c.close < bands["lower"])
    return signals(c.index, cross_up(c.close, bands["lower"]), exit_), {}


def ema_ribbon_both(c):
    e1, e2, e3 = ta.ema(c.close, 8), ta.ema(c.close, 21), ta.ema(c.close, 55)
    bull, bear = (e1 > e2) & (e2 > e3), (e1 < e2) & (e2 < e3)
    return signals(c.index, long_entry=bull & ~prev_bool(bull), short_entry=bear & ~prev_bool(bear)), {
        "direction": "both"
    }


def prev_bool(x: pd.Series, k: int = 1) -> pd.Series:
    """A bool's history: false before the first bar (Pine v6)."""
    return x.shift(k, fill_value=False).astype(bool)


def stoch_oversold(c):
    low, high = ta.lowest(c.low, 14), ta.highest(c.high, 14)
    raw = 100 * (c.close - low) / (high - low)
    k = ta.sma(raw.where(np.isfinite(raw)), 3)
    return signals(c.index, cross_up(k, 20), cross_down(k, 80)), {}


def vwma_trend(c):
    v = (c.close * c.volume).rolling(20).sum() / c.volume.rolling(20).sum()
    return signals(c.index, cross_up(c.close, v), cross_down(c.close, v)), {}


def obv_cum(c):
    obv = ta.cum(np.sign(c.close.diff()) * c.volume)
    signal = ta.sma(obv, 20)
    return signals(c.index, cross_up(obv, signal), cross_down(obv, signal)), {}


def hull_turns(c):
    hull = ta.wma(2 * ta.wma(c.close, 8) - ta.wma(c.close, 16), 4)
    rising = hull > prev(hull)
    return signals(c.index, rising & ~prev_bool(rising), ~rising & prev_bool(rising)), {}


def pivot_breakout(c):
    last_high = ta.pivothigh(c.high, 3, 3).ffill()
    return signals(c.index, cross_up(c.close, last_high), c.close < prev(ta.lowest(c.low, 10))), {}


def valuewhen_levels(c):
    up = cross_up(c.close, ta.sma(c.close, 20))
    level = ta.valuewhen(up, c.low, 0)
    return signals(c.index, up, c.close < level), {}


def supertrend_flip(c):
    direction = ta.supertrend(c.high, c.low, c.close, 3.0, 10)["direction"]
    change = direction.diff()
    return signals(c.index, change < 0, change > 0), {}


def while_count(c):
    close = c.close.to_numpy()
    counts = []
    for t in range(len(close)):
        count = 0
        while count < 10 and t - count - 1 >= 0 and close[t - count] > close[t - count - 1]:
            count += 1
        counts.append(count)
    counts = pd.Series(counts, index=c.index)
    two_down = (c.close < prev(c.close)) & (prev(c.close) < prev(c.close, 2))
    return signals(c.index, counts >= 4, two_down), {}


def ternary_regime(c):
    m = ta.sma(c.close, 100)
    regime = pd.Series(np.select([c.close > m, c.close < m], [1.0, -1.0], 0.0), index=c.index)
    before = prev(regime)
    return signals(c.index, (regime == 1) & (before != 1) & before.notna(), regime == -1), {}


def short_exit_percent(c):
    fast, slow = ta.ema(c.close, 12), ta.ema(c.close, 26)
    return signals(c.index, short_entry=cross_down(fast, slow)), {
        "direction": "short", "stop_loss_pct": 2.0, "take_profit_pct": 4.0,
    }  # fmt: skip


def donchian_mid(c):
    mid = (ta.highest(c.high, 20) + ta.lowest(c.low, 20)) / 2
    return signals(c.index, long_entry=cross_up(c.close, mid), short_entry=cross_down(c.close, mid)), {
        "direction": "both"
    }


def math_inputs(c):
    m = np.maximum(ta.sma(c.close, 20), ta.ema(c.close, 10))
    return signals(c.index, (c.close > m) & (prev(c.close) <= prev(m)), c.close < np.minimum(m, c.open)), {}


def trail_breakout(c):
    # Ticks written from the entry price: a 1.5 % trail from the entry on and a 4 % stop loss (rule 11).
    return signals(c.index, c.close > prev(ta.highest(c.high, 20))), {
        "stop_loss_pct": 4.0, "trailing_stop_pct": 1.5, "trailing_activation_pct": 0.0,
    }  # fmt: skip


def short_trail_after_gain(c):
    # trail_price 2 % below the entry: the 1 % trail starts after a 2 % gain; a 6 % target in ticks.
    return signals(c.index, short_entry=cross_down(ta.rsi(c.close, 14), 65)), {
        "direction": "short", "take_profit_pct": 6.0, "trailing_stop_pct": 1.0, "trailing_activation_pct": 2.0,
    }  # fmt: skip


def rsi_dips_pyramiding(c):
    r = ta.rsi(c.close, 14)
    frame = signals(c.index, r < 35, cross_up(r, 60))
    return frame.assign(long_add=(r < 35).to_numpy(), short_add=False), {"pyramiding": 3}


def short_adds_in_trend(c):
    fast, slow = ta.ema(c.close, 9), ta.ema(c.close, 30)
    frame = signals(c.index, short_entry=cross_down(fast, slow), short_exit=cross_up(fast, slow))
    add = (cross_down(c.close, fast) & (c.close < slow)).fillna(False)
    return frame.assign(long_add=False, short_add=add.to_numpy()), {"direction": "short", "pyramiding": 2}


def levels(frame, **given):
    """The level columns (rule 13), NaN but ``name=(a, b)``, held forward as a resting exit order is."""
    columns = {name: np.full(len(frame), np.nan) for name in LEVEL_COLUMNS}
    for name, (a, b) in given.items():
        b = pd.Series(b, index=frame.index)
        columns[f"{name}_a"] = pd.Series(np.where(b.notna(), a, np.nan), index=frame.index).ffill().to_numpy()
        columns[f"{name}_b"] = b.ffill().to_numpy()
    return frame.assign(**columns)


def atr_stop_moving(c):
    # From the average entry: a = 1 and b = −2 ATR (stop), +3 ATR (target), on every bar.
    fast, slow, atr = ta.ema(c.close, 20), ta.ema(c.close, 50), ta.atr(c.high, c.low, c.close, 14)
    frame = signals(c.index, cross_up(fast, slow), cross_down(fast, slow))
    return levels(frame, long_stop=(1.0, -2 * atr), long_target=(1.0, 3 * atr)), {"levels": "bar"}


def atr_levels_at_entry(c):
    # Set on the signal bar from its close (a = 0), held until the next signal of that side.
    fast, slow, atr = ta.ema(c.close, 9), ta.ema(c.close, 21), ta.atr(c.high, c.low, c.close, 14)
    up, down = cross_up(fast, slow), cross_down(fast, slow)
    frame = signals(c.index, up, short_entry=down)
    return levels(
        frame,
        long_stop=(0.0, (c.close - 1.5 * atr).where(up)), long_target=(0.0, (c.close + 3 * atr).where(up)),
        short_stop=(0.0, (c.close + 1.5 * atr).where(down)), short_target=(0.0, (c.close - 3 * atr).where(down)),
    ), {"direction": "both", "levels": "bar"}  # fmt: skip


def chandelier_short(c):
    frame = signals(c.index, short_entry=cross_down(c.close, ta.sma(c.close, 50)))
    return levels(frame, short_stop=(0.0, ta.highest(c.high, 10))), {"direction": "short", "levels": "bar"}


CALCULATIONS = (
    sma_cross_inputs, rsi_short_only, var_streaks, switch_modes, channel_function, na_handling, exit_percent,
    macd_both_ways, for_momentum, barssince_pullback, atr_breakout, bb_tuple, ema_ribbon_both, stoch_oversold,
    vwma_trend, obv_cum, hull_turns, pivot_breakout, valuewhen_levels, supertrend_flip, while_count, ternary_regime,
    short_exit_percent, donchian_mid, math_inputs, trail_breakout, short_trail_after_gain, rsi_dips_pyramiding,
    short_adds_in_trend, atr_stop_moving, atr_levels_at_entry, chandelier_short,
)  # fmt: skip
EXPECTED = {fn.__name__: fn for fn in CALCULATIONS}


def test_every_corpus_script_has_its_independent_calculation():
    assert {path.stem for path in CORPUS.glob("*.pine")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_compiled_script_gives_the_independent_signals_and_trades(name, bars):
    expected, settings = EXPECTED[name](bars)
    compiled = compile_script(read((CORPUS / f"{name}.pine").read_text()), bars)
    got = compiled.signals
    assert set(got.columns) == set(expected.columns)
    for column in expected.columns:
        if column in LEVEL_COLUMNS:  # read off three runs: equal to rounding
            np.testing.assert_allclose(got[column], expected[column], rtol=1e-9, atol=1e-9 * bars.close.max())
            continue
        wrong = np.flatnonzero(got[column].to_numpy() != expected[column].to_numpy())
        assert not wrong.size, (column, wrong[:10].tolist())
    assert int(expected.drop(columns=list(LEVEL_COLUMNS), errors="ignore").to_numpy().sum()) > 10
    wanted = {**BASE, **{k: v for k, v in settings.items() if k != "levels"}}
    assert {k: v for k, v in compiled.settings.items() if k in settings} == settings
    engine = {k: v for k, v in compiled.settings.items() if k != "levels"}
    ours = run_backtest(bars, got, BacktestSettings(**{**BASE, **engine, "slippage_bps": 5.0}))
    theirs = run_backtest(bars, expected, BacktestSettings(**wanted))
    pd.testing.assert_frame_equal(ours.trades, theirs.trades)
    if "pyramiding" in settings:  # positions of several entries, closed together
        assert (theirs.trades.groupby("exit_time").size() > 1).sum() > 3
    if "trailing_stop_pct" in settings:  # the trail changes the trades: the same run without it differs
        untrailed = run_backtest(bars, expected, BacktestSettings(**{**wanted, "trailing_stop_pct": None}))
        assert not untrailed.trades.equals(theirs.trades)
    if "levels" in settings:  # the levels stop or take profit, many times; without them the trades differ
        assert theirs.trades["exit_reason"].isin(["stop_loss", "take_profit"]).sum() > 10
        plain = run_backtest(bars, expected.drop(columns=list(LEVEL_COLUMNS)), BacktestSettings(**BASE))
        assert not plain.trades.equals(theirs.trades)


EXIT = """//@version=6
strategy("Exits")
if ta.crossover(close, ta.sma(close, 20))
    strategy.entry("L", strategy.long)
strategy.exit("X", "L", {arguments})
"""


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("trail_offset=100, trail_points=0", "strategy.exit gives ticks that do not follow the market's tick"),
        ("loss=250", "strategy.exit gives ticks that do not follow the market's tick"),
        ("trail_offset=strategy.position_avg_price * 0.01 / syminfo.mintick", "A trailing stop needs trail_offset="),
        ("trail_points=0", "A trailing stop needs trail_offset="),
        ("trail_points=0, trail_offset=close * 0.01 / syminfo.mintick", "The trailing stop moves from bar to bar"),
        ("stop=math.max(strategy.position_avg_price * 0.95, ta.lowest(low, 10))", "is not a fixed share of the "),
        ("stop=math.min(close, strategy.position_avg_price) * 0.97", "is not a fixed share of the entry price"),
    ],
)
def test_exits_trendy_cannot_trade_as_written_are_refused_with_a_sentence(arguments, message, bars):
    with pytest.raises(PineCompileError, match=message):
        compile_script(read(EXIT.format(arguments=arguments)), bars)


STATE = """//@version=6
strategy("Reads the account", pyramiding={pyramiding})
if ta.crossover(close, ta.sma(close, 20)){entry_condition}
    strategy.entry("L", strategy.long)
if {exit_condition}
    strategy.close("L")
"""


@pytest.mark.parametrize(
    ("entry_condition", "exit_condition", "pyramiding", "names"),
    [
        ("", "close < strategy.position_avg_price * 0.97", 1, "strategy.position_avg_price"),
        (" and strategy.equity > 5000", "ta.crossunder(close, ta.sma(close, 20))", 1, "strategy.equity"),
        (" and strategy.closedtrades < 3", "ta.crossunder(close, ta.sma(close, 20))", 1, "strategy.closedtrades"),
        (" and strategy.opentrades < 2", "ta.crossunder(close, ta.sma(close, 20))", 3, "strategy.opentrades"),
    ],
)
def test_orders_that_read_the_account_are_refused_not_misread(entry_condition, exit_condition, pyramiding, names,
                                                               bars):  # fmt: skip
    """The held runs make the account up (an entry at 1, no equity…): a script whose orders depend on it would be
    read wrong (before: no exits at all, or no entries), so it is refused with the names it reads."""
    text = STATE.format(entry_condition=entry_condition, exit_condition=exit_condition, pyramiding=pyramiding)
    with pytest.raises(PineCompileError, match=f"The script's orders depend on {names}, which Trendy cannot follow"):
        compile_script(read(text), bars)


def test_reading_the_account_only_in_exit_levels_or_as_one_entry_is_fine(bars):
    text = STATE.format(entry_condition=" and strategy.opentrades == 0", exit_condition="false", pyramiding=1)
    text += 'strategy.exit("X", "L", stop=strategy.position_avg_price * 0.98)\n'
    assert compile_script(read(text), bars).settings["stop_loss_pct"] == pytest.approx(2.0)


def test_a_stop_in_ticks_and_a_stop_price_act_as_the_nearer_one(bars):
    text = EXIT.format(arguments="stop=strategy.position_avg_price * 0.97, loss=strategy.position_avg_price * 0.02 / "
                                 "syminfo.mintick")  # fmt: skip
    assert compile_script(read(text), bars).settings["stop_loss_pct"] == pytest.approx(2.0)
