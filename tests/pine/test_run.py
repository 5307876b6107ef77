"""Running whole Pine scripts (issue 15): the whole-series part and the bar-by-bar part give TradingView's
values, checked by hand on small candles and against plain Python on real ones; order calls are recorded on
their bars; a script that never ends is stopped by its budget."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from strategies import indicators as ta
from strategies.builtin import REGISTRY
from strategies.pine.run import run
from strategies.pine.series import PineRuntimeError
from strategies.pine.source import read
from strategies.pine_export import pine_script

OHLCV = Path(__file__).resolve().parents[3] / "shared" / "data" / "ohlcv" / "binance_BTCUSDT_1h.csv.gz"


def candles(closes, opens=None) -> pd.DataFrame:
    closes = np.asarray(closes, dtype="float64")
    opens = np.asarray(opens if opens is not None else closes, dtype="float64")
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, closes) + 1,
            "low": np.minimum(opens, closes) - 1,
            "close": closes,
            "volume": np.ones(len(closes)),
        }
    )


def script(body: str) -> object:
    return read('//@version=6\nstrategy("t")\n' + body)


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    return pd.read_csv(OHLCV, parse_dates=["timestamp"], index_col="timestamp", nrows=2000)


def test_var_counts_and_reassignment_keeps_the_bar_order():
    trace = run(
        script(
            "var int ups = 0\nif close > open\n    ups += 1\nx = close\nif close < open\n    x := open\ny = x * 2\n"
        ),
        candles([10, 12, 11, 15, 14], opens=[9, 13, 10, 14, 15]),
    )
    assert trace.values["ups"] == [1, 1, 2, 3, 3]
    assert trace.values["x"] == [10, 13, 11, 15, 15]
    assert trace.values["y"] == [20, 26, 22, 30, 30]


def test_history_of_a_var_and_na_before_the_first_bar():
    trace = run(script("var float last = na\nlast := close\nprev = last[1]\nd = nz(last[1], -1)\n"), candles([5, 6, 7]))
    assert trace.values["last"] == [5, 6, 7]
    assert math.isnan(trace.values["prev"][0]) and trace.values["prev"][1:] == [5, 6]
    assert trace.values["d"] == [-1, 5, 6]


def test_for_while_switch_and_a_function(btc):
    trace = run(
        script(
            "sum3(src) =>\n"
            "    s = src + src[1] + src[2]\n"
            "    s / 3\n"
            "avg = sum3(close)\n"
            "total = 0.0\n"
            "for i = 0 to 2\n"
            "    total += close[i]\n"
            "n = 0\n"
            "while n < 3\n"
            "    n += 1\n"
            "side = switch\n"
            "    close > open => 1\n"
            "    close < open => -1\n"
            "    => 0\n"
        ),
        btc,
    )
    close, open_ = btc["close"].to_numpy(), btc["open"].to_numpy()
    expected = (close + np.r_[np.nan, close[:-1]] + np.r_[np.nan, np.nan, close[:-2]]) / 3
    np.testing.assert_allclose(trace.values["avg"], expected, equal_nan=True)
    np.testing.assert_allclose(np.array(trace.values["total"], dtype=float), expected * 3, equal_nan=True)
    assert set(trace.values["n"]) == {3}
    assert trace.values["side"] == np.sign(close - open_).astype(int).tolist()


def test_whole_series_values_are_the_indicators_and_orders_fall_on_their_bars(btc):
    trace = run(
        script(
            "fast = ta.ema(close, 9)\n"
            "slow = ta.ema(close, 21)\n"
            "up = ta.crossover(fast, slow)\n"
            "down = ta.crossunder(fast, slow)\n"
            "if up\n"
            '    strategy.entry("L", strategy.long, comment="go")\n'
            "if down\n"
            '    strategy.close("L")\n'
        ),
        btc,
    )
    fast, slow = ta.ema(btc["close"], 9), ta.ema(btc["close"], 21)
    np.testing.assert_array_equal(trace.values["fast"], fast.to_numpy())
    crossings = np.flatnonzero(ta.crossover(fast, slow).to_numpy())
    entries = [o for o in trace.orders if o.kind == "entry"]
    assert [o.bar for o in entries] == crossings.tolist() and len(entries) > 10
    assert {(o.id, o.direction, o.args["comment"]) for o in entries} == {("L", "long", "go")}
    closes = [o.bar for o in trace.orders if o.kind == "close"]
    assert closes == np.flatnonzero(ta.crossunder(fast, slow).to_numpy()).tolist()


def test_inputs_take_the_given_parameters():
    text = 'length = input.int(2, "Length")\nsrc = input.source(close, "Source")\nm = ta.sma(src, length)\n'
    bars = candles([1, 2, 3, 4], opens=[4, 3, 2, 1])
    assert run(script(text), bars).values["m"][1:].tolist() == [1.5, 2.5, 3.5]
    assert run(script(text), bars, {"length": 3, "src": "open"}).values["m"][2:].tolist() == [3.0, 2.0]


def test_runtime_error_stops_the_run_with_its_message():
    with pytest.raises(PineRuntimeError, match="fast must be below slow"):
        run(script("fast = 30\nslow = 20\nif fast >= slow\n    runtime.error(\"fast must be below slow\")\n"),
            candles([1, 2]))  # fmt: skip


@pytest.mark.parametrize(
    "body",
    ["i = 0\nwhile true\n    i += 1\n", "t = 0.0\nfor i = 0 to 100000000\n    t += i\n"],
    ids=["endless-while", "huge-for"],
)
def test_a_script_that_never_ends_is_stopped_by_its_budget(body):
    began = time.perf_counter()
    with pytest.raises(PineRuntimeError, match="ran over its budget"):
        run(script(body), candles([1, 2, 3]), max_seconds=1.0)
    assert time.perf_counter() - began < 5


@pytest.mark.parametrize("slug", ["ema_crossover", "bb_rsi"])
def test_a_builtins_export_runs_and_asks_for_entries_on_its_signal_bars(slug, btc):
    """With the position always flat (no broker yet), every long entry signal the Python strategy gives after
    its warm-up is an entry call of the exported script on the same bar."""
    strategy = REGISTRY[slug]
    trace = run(read(pine_script(strategy, None)), btc)
    signals = strategy.signals(btc, None)
    wanted = signals["long_entry"] & ~signals["long_exit"] & ~signals["short_entry"]
    entries = [o.bar for o in trace.orders if o.kind == "entry" and o.direction == "long"]
    assert entries == np.flatnonzero(wanted.to_numpy()).tolist() and entries


def test_a_run_leaves_no_cycle_behind_so_its_series_are_freed_at_once():
    """Without Python's cyclic collector, a finished compile leaves no runner, bar runner or function alive: its
    arrays go with its last reference, not at the next full collection (0.5 GB per million bars until then)."""
    import gc

    from strategies.pine.compile import compile_script

    parsed = read(pine_script(REGISTRY["ichimoku_cloud"], None))
    data = candles(100 + np.sin(np.arange(2_000) / 25) * 10)
    user_function = script("f(x) =>\n    x * 2 - 99\nvar n = 0\nn += 1\nif f(close) > close and n > 5\n"
                           '    strategy.entry("L", strategy.long)\n')  # fmt: skip
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        compile_script(parsed, data)
        compile_script(user_function, data)
        gc.set_debug(gc.DEBUG_SAVEALL)  # what only the cyclic collector would free, kept in gc.garbage to read
        gc.collect()
        left = sorted({type(o).__name__ for o in gc.garbage} & {"Runner", "Bars", "Trace", "Vector"})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()
    assert left == []
