"""Vectorised and bar-by-bar evaluation agree (issue 15): random Pine expressions over
``open/high/low/close/volume`` with history offsets, ``na`` handling, ternaries and ``ta.*`` calls evaluate to the
same series in ``strategies.pine.series`` (numpy, whole series) and ``strategies.pine.bars`` (one bar at a time,
its own ``ta.*`` states). The expressions are Pine text, parsed by pynescript like any script."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategies.pine.bars import Bars
from strategies.pine.series import Vector, as_float
from strategies.pine.source import read

OHLCV = Path(__file__).resolve().parents[3] / "shared" / "data" / "ohlcv" / "binance_ETHUSDT_1h.csv.gz"
N = 160


@pytest.fixture(scope="module")
def env():
    frame = pd.read_csv(OHLCV, nrows=N)
    values = {
        name: frame[name].to_numpy(dtype="float64", copy=True) for name in ("open", "high", "low", "close", "volume")
    }
    values["close"][[17, 18, 60]] = np.nan  # na inside the data
    return values


LEAVES = st.sampled_from(["open", "high", "low", "close", "volume", "na", "2", "0.5", "100"])


def _expressions(children):
    length = st.integers(1, 6).map(str)
    return st.one_of(
        st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(children, st.integers(0, 4)).map(lambda t: f"({t[0]})[{t[1]}]"),
        st.tuples(children, st.sampled_from([">", "<", ">=", "<=", "==", "!="]), children, children, children).map(
            lambda t: f"(({t[0]} {t[1]} {t[2]}) ? {t[3]} : {t[4]})"
        ),
        st.tuples(
            st.sampled_from(
                ["ta.sma", "ta.ema", "ta.rma", "ta.wma", "ta.highest", "ta.lowest", "ta.stdev", "ta.change"]
            ),
            children,
            length,
        ).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        st.tuples(st.sampled_from(["math.abs", "nz"]), children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(["math.max", "math.min"]), children, children).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        ),
        children.map(lambda e: f"ta.cum({e})"),
        children.map(lambda e: f"-{e}"),
    )


EXPRESSIONS = st.recursive(LEAVES, _expressions, max_leaves=8)
CONDITIONS = st.tuples(
    EXPRESSIONS, st.sampled_from(["ta.crossover", "ta.crossunder", "ta.cross"]), EXPRESSIONS, st.booleans()
).map(lambda t: f"{t[1]}({t[0]}, {t[2]})" + (" and close > open" if t[3] else " or na(close)"))


def _both(text: str, env: dict) -> tuple[np.ndarray, list]:
    script = read(f"//@version=6\nx = {text}\n")
    node = script.tree.body[0].value
    vector = Vector(dict(env), N).value(node)
    bars = Bars(dict(env), N)
    return vector, [bars.value(node, t) for t in range(N)]


def _same(vector, stepped) -> None:
    if isinstance(vector, np.ndarray) and vector.dtype == bool:
        assert vector.tolist() == [bool(x) for x in stepped]
        return
    ours = as_float(vector, N)
    theirs = np.array([math.nan if x is None else float(x) for x in stepped], dtype="float64")
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9, equal_nan=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=EXPRESSIONS)
def test_numbers_agree(env, text):
    vector, stepped = _both(text, env)
    _same(vector, stepped)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=CONDITIONS)
def test_conditions_agree(env, text):
    vector, stepped = _both(text, env)
    _same(vector, stepped)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("close / 0", [math.nan] * 3),  # a division by zero is na
        ("(close > open) ? 1 : 2", [1.0, 2.0, 1.0]),
        ("close[1]", [math.nan, 10.0, 12.0]),
        ("nz(close[1], -1)", [-1.0, 10.0, 12.0]),
        ("close[1] != close", [False, True, True]),  # a comparison with na is false, != too
        ("ta.change(close)", [math.nan, 2.0, -1.0]),
        ("ta.sma(close, 2)", [math.nan, 11.0, 11.5]),
    ],
)
def test_by_hand(text, expected):
    env = {"close": np.array([10.0, 12.0, 11.0]), "open": np.array([9.0, 13.0, 10.0])}
    script = read(f"//@version=6\nx = {text}\n")
    node = script.tree.body[0].value
    vector = Vector(env, 3).value(node)
    bars = Bars(env, 3)
    stepped = [bars.value(node, t) for t in range(3)]
    for got in (vector, stepped):
        values = got.tolist() if isinstance(got, np.ndarray) else got
        assert [round(v, 12) if isinstance(v, float) and not math.isnan(v) else v for v in values] == [
            e if not (isinstance(e, float) and math.isnan(e)) else v for e, v in zip(expected, values, strict=True)
        ]
        assert [isinstance(v, float) and math.isnan(v) for v in values] == [
            isinstance(e, float) and math.isnan(e) for e in expected
        ]
