"""The six built-in strategies: parameters, signal frames, and no look-ahead."""

import numpy as np
import pandas as pd
import pytest

from strategies.builtin import REGISTRY, get_strategy
from strategies.interface import SIGNAL_COLUMNS, StrategyError

SLUGS = sorted(REGISTRY)


def test_six_strategies():
    assert SLUGS == ["bb_rsi", "ema_crossover", "ichimoku_cloud", "macd_stoch", "rsi_ema", "supertrend"]
    for strategy in REGISTRY.values():
        assert strategy.description and strategy.params
        for spec in strategy.params:
            assert spec.minimum <= spec.default <= spec.maximum


@pytest.mark.parametrize("slug", SLUGS)
def test_signal_frame(slug, btc_1h):
    strategy = get_strategy(slug)
    candles = btc_1h.iloc[-5000:]
    signals = strategy.signals(candles, {})
    assert list(signals.columns) == list(SIGNAL_COLUMNS)
    assert signals.index.equals(candles.index)
    assert (signals.dtypes == np.dtype(bool)).all()
    assert signals["long_entry"].sum() > 0 and signals["short_entry"].sum() > 0
    warm = strategy.warmup(strategy.defaults())
    assert not signals.iloc[:warm].to_numpy().any()
    # The warm-up is not too short: before it no entry could be computed anyway (the mask hides nothing real).
    raw = strategy.compute(candles, strategy.defaults())
    assert not raw[["long_entry", "short_entry"]].iloc[:warm].fillna(False).to_numpy().any()
    # An entry and the exit of the same side never fire on the same bar.
    assert not (signals["long_entry"] & signals["long_exit"]).any()


@pytest.mark.parametrize("slug", SLUGS)
def test_no_look_ahead(slug, btc_1h):
    """Appending future candles never changes a past signal."""
    strategy = get_strategy(slug)
    candles = btc_1h.iloc[-3000:]
    full = strategy.signals(candles, {})
    for cut in (700, 1234, 2001, 2999):
        head = strategy.signals(candles.iloc[:cut], {})
        pd.testing.assert_frame_equal(head, full.iloc[:cut])


@pytest.mark.parametrize("slug", SLUGS)
def test_future_values_do_not_leak(slug, btc_1h):
    """Scrambling every candle after bar t leaves the signals up to t unchanged."""
    strategy = get_strategy(slug)
    candles = btc_1h.iloc[-2000:].copy()
    before = strategy.signals(candles, {})
    rng = np.random.default_rng(1)
    tail = candles.iloc[1500:]
    factor = rng.uniform(0.8, 1.2, len(tail))
    scrambled = candles.copy()
    for col in ("open", "high", "low", "close"):
        scrambled.loc[tail.index, col] = tail[col] * factor
    after = strategy.signals(scrambled, {})
    pd.testing.assert_frame_equal(before.iloc[:1500], after.iloc[:1500])


def test_unknown_strategy():
    with pytest.raises(StrategyError, match="Unknown strategy 'nope'"):
        get_strategy("nope")


@pytest.mark.parametrize(
    ("slug", "params", "field", "text"),
    [
        ("ema_crossover", {"fast": 30, "slow": 20}, "fast", "must be below the slow period"),
        ("ema_crossover", {"fast": 1}, "fast", "between 2 and 100"),
        ("ema_crossover", {"fast": 2.5}, "fast", "whole number"),
        ("ema_crossover", {"fast": "abc"}, "fast", "Enter a number"),
        ("ema_crossover", {"speed": 3}, "speed", "Not a parameter"),
        ("supertrend", {"factor": 50}, "factor", "between 1 and 10"),
        ("rsi_ema", {"oversold": 50, "overbought": 50}, "oversold", "below the overbought"),
        ("ichimoku_cloud", {"conversion": 30, "base": 20}, "base", "conversion < base < span B"),
    ],
)
def test_bad_parameters(slug, params, field, text):
    with pytest.raises(StrategyError) as caught:
        get_strategy(slug).validate(params)
    template, args = caught.value.fields[field]
    assert text in template % args


def test_too_few_candles(btc_1h):
    with pytest.raises(StrategyError, match="needs at least 27 candles"):
        get_strategy("ema_crossover").signals(btc_1h.iloc[:10], {})


def test_string_parameters_are_coerced():
    assert get_strategy("supertrend").validate({"factor": "2.5", "atr_period": "7"}) == {"factor": 2.5, "atr_period": 7}


@pytest.mark.parametrize("slug", SLUGS)
def test_live_window_gives_the_backtest_signal(slug, btc_1h):
    """Signals on the last ``lookback`` candles (what the live engine loads) end with the full-history signal."""
    strategy = get_strategy(slug)
    params = strategy.defaults()
    candles = btc_1h.iloc[-7000:]
    full = strategy.signals(candles, params)
    length = strategy.lookback(params)
    for t in range(len(candles) - 1, length + 1000, -37):
        window = strategy.signals(candles.iloc[t - length + 1 : t + 1], params)
        assert window.iloc[-1].equals(full.iloc[t]), candles.index[t]
