"""The live path (loop → engine → router → paper exchange → database), replayed candle by candle with
``paper_replay``, trades exactly what ``backtest`` computed on the same candles: same trades, same
times, same reasons, same prices and pnl to the cent, same final equity.

Real data: BTC/USDT 1h for 2024-01-01 … 2024-04-01, with the 5m candles (March) ordering SL/TP touches.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from market_data.models import Candle
from market_data.services import candles_import_csv
from strategies.builtin import REGISTRY

OHLCV = Path("/work/shared/data/ohlcv")
BTC_1H = OHLCV / "binance_BTCUSDT_1h.csv.gz"
BTC_5M = OHLCV / "binance_BTCUSDT_5m.csv.gz"
PERIOD = ["--start", "2024-01-01", "--end", "2024-04-01"]
CENT = 0.005
TIMINGS: dict[str, float] = {}

pytestmark = pytest.mark.skipif(not (BTC_1H.exists() and BTC_5M.exists()), reason="shared OHLCV data not present")


@pytest.fixture(scope="module")
def stored_candles(django_db_setup, django_db_blocker):
    """The BTC/USDT 1h and 5m candles, imported once for the module and removed afterwards."""
    with django_db_blocker.unblock():
        candles_import_csv(path=BTC_1H, exchange="binance", symbol="BTC/USDT", timeframe="1h")
        candles_import_csv(path=BTC_5M, exchange="binance", symbol="BTC/USDT", timeframe="5m")
    yield
    with django_db_blocker.unblock():
        Candle.objects.filter(exchange="binance", symbol="BTC/USDT", timeframe__in=["1h", "5m"]).delete()


def _run(command: str, *args: str) -> dict:
    buf = io.StringIO()
    call_command(command, *args, "--json", stdout=buf)
    return json.loads(buf.getvalue())


def _both(slug: str, *extra: str) -> tuple[dict, dict]:
    args = ["--strategy", slug, *PERIOD, *extra]
    backtest = _run("backtest", *args)
    started = time.perf_counter()
    replay = _run("paper_replay", *args)
    TIMINGS[f"{slug} {' '.join(extra)}".strip()] = time.perf_counter() - started
    return backtest, replay


def _first_difference(bt: list[dict], live: list[dict], keys: tuple[str, ...]) -> str:
    for k, (a, b) in enumerate(zip(bt, live, strict=False)):
        for key in keys:
            x, y = a[key], b[key]
            same = abs(x - y) < CENT if isinstance(x, float) and isinstance(y, float) else x == y
            if not same:
                return f"trade {k}: {key} backtest={x!r} live={y!r}\n  backtest {a}\n  live     {b}"
    if len(bt) != len(live):
        k = min(len(bt), len(live))
        extra = (bt if len(bt) > len(live) else live)[k]
        return f"{len(bt)} backtest trades vs {len(live)} live; first unmatched #{k}: {extra}"
    return ""


def _assert_same(backtest: dict, replay: dict, keys: tuple[str, ...]) -> None:
    bt, live = backtest["trades"], replay["trades"]
    diff = _first_difference(bt, live, keys)
    assert not diff, diff
    assert len(bt) == len(live)


EXACT_KEYS = ("side", "entry_time", "exit_time", "exit_reason", "entry_price", "exit_price", "pnl")


def _positions(trades: list[dict]) -> list[dict]:
    """The backtest's trades as positions: with pyramiding one position holds several entries (one trade each,
    closed together), which the live path books as one position with their average entry price."""
    grouped: dict[str, list[dict]] = {}
    for trade in trades:
        grouped.setdefault(trade["exit_time"], []).append(trade)
    rows = []
    for legs in grouped.values():
        size = sum(t["size"] for t in legs)
        rows.append({**legs[0], "entry_price": sum(t["size"] * t["entry_price"] for t in legs) / size,
                     "pnl": sum(t["pnl"] for t in legs), "entries": len(legs)})  # fmt: skip
    return rows


def _final_equity(document: dict) -> float:
    return float(document["settings"]["initial_capital"]) + sum(t["pnl"] for t in document["trades"])


@pytest.mark.django_db
@pytest.mark.parametrize("slug", list(REGISTRY))
def test_replay_equals_backtest(stored_candles, slug):
    backtest, replay = _both(slug)
    assert backtest["trades"], "the period should produce trades"
    _assert_same(backtest, replay, EXACT_KEYS)
    assert abs(_final_equity(backtest) - replay["final_equity"]) < CENT
    assert abs(_final_equity(replay) - replay["final_equity"]) < CENT


@pytest.mark.django_db
def test_replay_equals_backtest_both_directions_leverage(stored_candles):
    extra = ("--direction", "both", "--leverage", "3", "--stop-loss", "1.5", "--take-profit", "3")
    backtest, replay = _both("ema_crossover", *extra)
    reasons = {t["exit_reason"] for t in backtest["trades"]}
    sides = {t["side"] for t in backtest["trades"]}
    assert sides == {"long", "short"}
    assert "reversal" in reasons or "signal" in reasons
    _assert_same(backtest, replay, EXACT_KEYS)
    assert abs(_final_equity(backtest) - replay["final_equity"]) < CENT


PINE = Path(__file__).parents[1] / "pine" / "corpus"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("script", "extra"),
    [
        ("exit_percent.pine", ()),  # the script's own stop and target (strategy.exit)
        ("macd_both_ways.pine", ("--direction", "both", "--stop-loss", "none", "--take-profit", "none")),
        ("sma_cross_inputs.pine", ("--param", "fastLen=8", "--param", "slowLen=21")),
        ("trail_breakout.pine", ("--param", "trailPct=1.5")),  # the script's trailing stop, moved every candle
        ("atr_stop_moving.pine", ()),  # an ATR stop and target from the average entry, moved every candle
        ("atr_levels_at_entry.pine", ("--direction", "both")),  # set from the signal candle's close, longs and shorts
    ],
)
def test_replay_equals_backtest_for_a_pine_script(stored_candles, script, extra):
    """A Pine script's bot (a stored version, read by the loop like any strategy) trades as its backtest."""
    args = ["--pine", str(PINE / script), *PERIOD, *extra]
    backtest = _run("backtest", *args)
    started = time.perf_counter()
    replay = _run("paper_replay", *args)
    TIMINGS[f"pine {script}"] = time.perf_counter() - started
    assert backtest["trades"], "the period should produce trades"
    _assert_same(backtest, replay, EXACT_KEYS)
    assert abs(_final_equity(backtest) - replay["final_equity"]) < CENT
    if script == "exit_percent.pine":
        assert {t["exit_reason"] for t in backtest["trades"]} & {"stop_loss", "take_profit"}
    if script == "trail_breakout.pine":  # the trail really moved the stops that closed the trades
        assert replay["trails_moved"] > 20 and sum(t["exit_reason"] == "stop_loss" for t in backtest["trades"]) > 5
    if script.startswith("atr_"):  # the script's levels (bar by bar, rule 13) closed trades both ways
        assert backtest["settings"]["levels_by_bar"] is True
        reasons = [t["exit_reason"] for t in backtest["trades"]]
        assert reasons.count("stop_loss") >= 3 and reasons.count("take_profit") >= 2, reasons
    if script == "macd_both_ways.pine":
        assert {t["side"] for t in backtest["trades"]} == {"long", "short"}


@pytest.mark.django_db
def test_replay_equals_backtest_with_a_trailing_stop_after_a_gain(stored_candles):
    """A built-in with the trader's own trailing stop, starting after a 1 % gain, shorts included."""
    extra = ("--direction", "both", "--trailing-stop", "1.5", "--trailing-activation", "1", "--stop-loss", "3")
    backtest, replay = _both("supertrend", *extra)
    assert backtest["trades"]
    _assert_same(backtest, replay, EXACT_KEYS)
    assert abs(_final_equity(backtest) - replay["final_equity"]) < CENT
    plain = _run("backtest", "--strategy", "supertrend", *PERIOD, *extra[:2], "--stop-loss", "3")
    assert plain["trades"] != backtest["trades"]  # the trail changed the trades


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (("--strategy", "bb_rsi"), ("--pyramiding", "3", "--direction", "both", "--leverage", "2")),
        (("--pine", str(PINE / "rsi_dips_pyramiding.pine")), ()),  # the script's own strategy(pyramiding=3)
    ],
    ids=["bb_rsi", "pine"],
)
def test_replay_equals_backtest_with_pyramiding(stored_candles, args, extra):
    """Positions of several entries: each entry sized from the equity at its open, the stops set again from the
    average entry, all closed together — the backtest's trades grouped by position equal the live positions."""
    backtest = _run("backtest", *args, *PERIOD, *extra)
    started = time.perf_counter()
    replay = _run("paper_replay", *args, *PERIOD, *extra)
    TIMINGS[f"pyramiding {args[-1].rsplit('/', 1)[-1]}"] = time.perf_counter() - started
    positions = _positions(backtest["trades"])
    assert sum(p["entries"] > 1 for p in positions) >= 2, "the period should pyramid"
    keys = ("side", "entry_time", "exit_time", "exit_reason", "entry_price", "exit_price", "pnl", "entries")
    diff = _first_difference(positions, replay["trades"], keys)
    assert not diff, diff
    assert len(positions) == len(replay["trades"])
    assert abs(_final_equity(backtest) - replay["final_equity"]) < CENT


@pytest.mark.django_db
def test_replay_market_precision_keeps_times_and_sides(stored_candles):
    args = ["--strategy", "supertrend", *PERIOD]
    backtest = _run("backtest", *args)
    replay = _run("paper_replay", *args, "--precision", "market")
    _assert_same(backtest, replay, ("side", "entry_time", "exit_time", "exit_reason"))
    # Rounding the size down to the step moves the pnl by a little only.
    for a, b in zip(backtest["trades"], replay["trades"], strict=True):
        assert abs(a["entry_price"] - b["entry_price"]) <= 0.01
        assert abs(a["pnl"] - b["pnl"]) <= max(0.05, abs(a["pnl"]) * 0.01)


def test_report_timings():
    """Not a check: prints the replay times measured above (pytest -s)."""
    if TIMINGS:
        total = sum(TIMINGS.values())
        print(
            "\npaper_replay timings: "
            + ", ".join(f"{k} {v:.1f}s" for k, v in TIMINGS.items())
            + f"; total {total:.1f}s"
        )
