"""The round trip (issue 15): the Pine v6 export of each built-in (``strategies.pine_export``), compiled by the
Pine engine, trades exactly as the Python built-in in Trendy's backtest on the shared candles — the same entry
and exit bars, prices and reasons."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from strategies.backtest import BacktestSettings, run_backtest
from strategies.builtin import REGISTRY
from strategies.pine.compile import compile_script
from strategies.pine.source import read
from strategies.pine_export import DEFAULT_SETTINGS, pine_script

OHLCV = Path(__file__).resolve().parents[3] / "shared" / "data" / "ohlcv" / "binance_BTCUSDT_1h.csv.gz"
SETTINGS = {key: DEFAULT_SETTINGS[key] for key in ("initial_capital", "fee_rate", "slippage_bps", "leverage",
            "position_size_pct", "stop_loss_pct", "take_profit_pct", "direction")}  # fmt: skip


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    return pd.read_csv(OHLCV, parse_dates=["timestamp"], index_col="timestamp", nrows=6000)


OTHER = {**SETTINGS, "direction": "both", "leverage": 3, "position_size_pct": 15.0, "stop_loss_pct": 3.0,
         "take_profit_pct": 9.0, "fee_rate": 0.0005}  # fmt: skip
TRAIL = {**OTHER, "trailing_stop_pct": 1.5, "trailing_activation_pct": 1.0}
CASES = [(slug, SETTINGS) for slug in sorted(REGISTRY)] + [(slug, OTHER) for slug in sorted(REGISTRY)]
PYRAMID = {**OTHER, "pyramiding": 3}
CASES += [(slug, TRAIL) for slug in ("supertrend", "ema_crossover")] + [
    (slug, PYRAMID) for slug in ("bb_rsi", "ichimoku_cloud")
]


@pytest.mark.parametrize(
    ("slug", "base"),
    CASES,
    ids=[
        f"{s}-{b['direction']}{'-trail' * ('trailing_stop_pct' in b)}{'-pyramid' * ('pyramiding' in b)}"
        for s, b in CASES
    ],
)
def test_the_export_compiled_trades_as_the_builtin(slug, base, btc):
    strategy = REGISTRY[slug]
    expected = run_backtest(btc, strategy.signals(btc, None), BacktestSettings(**base)).trades
    compiled = compile_script(read(pine_script(strategy, None, settings=base)), btc)
    settings = {**base, **compiled.settings}
    assert {key: settings[key] for key in base} == base  # the script's own settings are the ones exported
    got = run_backtest(btc, compiled.signals, BacktestSettings(**settings)).trades
    assert len(expected) > 5
    pd.testing.assert_frame_equal(got, expected)
    if "pyramiding" in base:  # some positions really held several entries
        assert (expected.groupby("exit_time").size() > 1).any()


INPUT_CASES = [
    ("ema_crossover", {"fast": 5, "slow": 30}),
    ("rsi_ema", {"rsi_length": 10, "oversold": 35.0, "ema_length": 50}),
]


@pytest.mark.parametrize(("slug", "params"), INPUT_CASES)
def test_the_inputs_are_the_parameters(slug, params, btc):
    """The export keeps the parameters as inputs: set through the engine, they trade as the Python strategy
    with the same parameters."""
    strategy = REGISTRY[slug]
    expected = run_backtest(btc, strategy.signals(btc, params), BacktestSettings(**SETTINGS)).trades
    compiled = compile_script(read(pine_script(strategy, None, settings=SETTINGS)), btc, params)
    got = run_backtest(btc, compiled.signals, BacktestSettings(**{**SETTINGS, **compiled.settings})).trades
    assert len(expected) > 3
    pd.testing.assert_frame_equal(got, expected)
