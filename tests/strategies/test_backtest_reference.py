"""The numba kernel against a slow, plain-Python reference of the same rules, on random candles.

The reference below is written from the rules in ``strategies.backtest``'s docstring, bar by bar with
dicts and lists, sharing no code with the kernel. Random walks with gaps, dense random signals and
settings drawn from their whole range (10x leverage, tight stops, heavy slippage, a lower timeframe
with holes) exercise every branch: gaps through the stop and the target, liquidations, reversals,
bars touching both levels with and without intrabar data, a halted account. Trades, equity and the
ambiguity counters must agree to 1e-9. Two cases in three also trail their stop (rule 11), drawn from a
generator of their own so the other draws stay as they were, and half of them pyramid (2 or 3 entries per
position, some with add signals of their own). Two cases in five give stop and target levels bar by bar (rule 13):
a share of the entry price, a level off the bar's close, the entry less a distance, or none, drawn per bar.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from strategies.backtest import LEVEL_COLUMNS, BacktestSettings, run_backtest

COLUMNS = ("long_entry", "long_exit", "short_entry", "short_exit")
STEP = pd.Timedelta("1h")
SUB = 4  # lower-timeframe candles per bar


def reference(candles, signals, s: BacktestSettings, intrabar=None):
    """(trades as dicts, equity list, ambiguous bars, resolved by intrabar)."""
    o, h, lo, c = (candles[k].tolist() for k in ("open", "high", "low", "close"))
    sig = {k: signals[k].tolist() for k in COLUMNS}
    times = list(candles.index)
    n = len(o)
    slip = s.slippage_bps / 10_000
    fee = s.fee_rate
    allow_long = s.direction in ("long", "both")
    allow_short = s.direction in ("short", "both")
    cash = s.initial_capital
    pos = None
    trades, equity = [], []
    counts = {"ambiguous": 0, "resolved": 0, "trailed": 0}
    given = {k: signals[k].tolist() for k in LEVEL_COLUMNS} if "long_stop_a" in signals.columns else None

    def row_level(p, kind):
        """The strategy's level in force (rule 13): a × the average entry + b of the row it was given on."""
        name = ("long" if p["side"] == 1 else "short") + "_" + kind
        a, b = given[name + "_a"][p["row"]], given[name + "_b"][p["row"]]
        return None if math.isnan(a) else a * p["entry"] + b

    def close(i, price, reason):
        """Every leg (entry) of the position closes at ``price``; liquidated together when the position's loss
        reaches its margin, each leg then losing its own margin."""
        nonlocal cash, pos
        legs = pos["legs"]
        grosses = [pos["side"] * leg["size"] * (price - leg["entry"]) for leg in legs]
        liquidated = sum(grosses) < -sum(leg["margin"] for leg in legs)
        if liquidated:
            reason = "liquidation"
        for leg, gross in zip(legs, grosses, strict=True):
            gross = -leg["margin"] if liquidated else gross
            exit_fee = fee * leg["size"] * price
            pnl = gross - leg["fee"] - exit_fee
            cash += gross - exit_fee
            trades.append({**leg, "side": pos["side"], "exit_i": i, "exit_price": price, "fees": leg["fee"] + exit_fee,
                           "pnl": pnl, "reason": reason})  # fmt: skip
        if cash < 0:
            trades[-1]["pnl"] -= cash
            cash = 0.0
        pos = None

    def add_leg(i, side, fill, margin):
        nonlocal cash, pos
        notional = margin * s.leverage
        leg = {"entry_i": i, "entry": fill, "size": notional / fill, "notional": notional, "margin": margin,
               "fee": fee * notional}  # fmt: skip
        cash -= fee * notional
        if pos is None:
            pos = {"side": side, "legs": []}
        pos["legs"].append(leg)
        total = sum(x["size"] for x in pos["legs"])
        pos["entry"] = sum(x["size"] * x["entry"] for x in pos["legs"]) / total  # the average entry price
        pos["size"] = total

    def stop_level(p):
        """The nearer of stop loss and liquidation, and which one it is."""
        side, entry = p["side"], p["entry"]
        liq = entry * (1 - side / s.leverage)  # long: entry × (1 − 1/L), short: entry × (1 + 1/L)
        if given is not None:
            sl = row_level(p, "stop")
            if sl is None:
                return liq, "liquidation"
        elif s.stop_loss_pct is None:
            return liq, "liquidation"
        else:
            sl = entry * (1 - side * s.stop_loss_pct / 100)
        if side * (sl - liq) >= 0:  # the stop is at or inside the liquidation price
            return sl, "stop_loss"
        return liq, "liquidation"

    def active_stop(p):
        """The stop in force: the trail once it is nearer than the stop loss / liquidation."""
        base, reason = stop_level(p)
        trail = p.get("trail")
        if trail is not None and p["side"] * (trail - base) > 0:
            return trail, "stop_loss"
        return base, reason

    def tp_level(p):
        if given is not None:
            level = row_level(p, "target")
            return math.inf * p["side"] if level is None else level
        if s.take_profit_pct is None:
            return math.inf * p["side"]
        return p["entry"] * (1 + p["side"] * s.take_profit_pct / 100)

    def first_touch_is_tp(i, stop, tp, side):
        if intrabar is None:
            return False
        end = times[i + 1] if i + 1 < n else times[i] + STEP
        inside = intrabar[(intrabar.index >= times[i]) & (intrabar.index < end)]
        for high, low in zip(inside["high"], inside["low"], strict=True):
            s_hit = low <= stop if side == 1 else high >= stop
            t_hit = high >= tp if side == 1 else low <= tp
            if s_hit and t_hit:
                return False
            if s_hit or t_hit:
                counts["resolved"] += 1
                return t_hit
        return False

    add_cols = {k: signals[k].tolist() if k in signals.columns else sig[e]
                for k, e in (("long_add", "long_entry"), ("short_add", "short_entry"))}  # fmt: skip
    for i in range(n):
        halted = cash <= 0
        exposed = pos is not None  # held into this bar's open
        exit_wanted, new_side, add = False, 0, False
        if i > 0 and not halted:
            le, lx, se, sx = (sig[k][i - 1] for k in COLUMNS)
            held = pos["side"] if pos else 0
            if held == 1:
                exit_wanted = lx or (allow_short and se)
                new_side = -1 if allow_short and se and not sx else 0
                add = add_cols["long_add"][i - 1] and not exit_wanted and len(pos["legs"]) < s.pyramiding
            elif held == -1:
                exit_wanted = sx or (allow_long and le)
                new_side = 1 if allow_long and le and not lx else 0
                add = add_cols["short_add"][i - 1] and not exit_wanted and len(pos["legs"]) < s.pyramiding
            else:
                want_long = allow_long and le and not lx
                want_short = allow_short and se and not sx
                new_side = (1 if want_long else -1) if want_long != want_short else 0
        if pos:
            side = pos["side"]
            stop, stop_reason = active_stop(pos)
            tp = tp_level(pos)
            if side * (o[i] - stop) <= 0:
                close(i, o[i] * (1 - side * slip), stop_reason)
            elif side * (o[i] - tp) >= 0:
                close(i, o[i], "take_profit")
            elif exit_wanted:
                close(i, o[i] * (1 - side * slip), "reversal" if new_side == -side else "signal")
        if add and pos is not None and cash > 0:  # pyramiding: sized from the equity marked at the open
            side = pos["side"]
            equity_now = cash + side * pos["size"] * (o[i] - pos["entry"])
            if equity_now > 0:
                add_leg(i, side, o[i] * (1 + side * slip), equity_now * s.position_size_pct / 100)
                pos.pop("trail", None)  # the stop is set again from the new average entry
                pos["row"] = i - 1
        if pos is None and new_side and cash > 0:
            add_leg(i, new_side, o[i] * (1 + new_side * slip), cash * s.position_size_pct / 100)
            pos["row"] = i - 1  # the levels the signal bar gave
        if pos:
            exposed = True
            side = pos["side"]
            stop, stop_reason = active_stop(pos)
            tp = tp_level(pos)
            hit_stop = lo[i] <= stop if side == 1 else h[i] >= stop
            hit_tp = h[i] >= tp if side == 1 else lo[i] <= tp
            if hit_stop and hit_tp:
                counts["ambiguous"] += 1
                hit_tp = first_touch_is_tp(i, stop, tp, side)
                hit_stop = not hit_tp
            if hit_stop:
                worse = min(stop, o[i]) if side == 1 else max(stop, o[i])
                close(i, worse * (1 - side * slip), stop_reason)
            elif hit_tp:
                close(i, tp, "take_profit")
        if pos:  # after the close: the levels this bar gives act from the next one
            pos["row"] = i
        if pos and s.trailing_stop_pct is not None:  # after the close: the best price so far, the stop behind it
            side, entry = pos["side"], pos["entry"]
            extreme = h[i] if side == 1 else lo[i]
            pos["best"] = (max if side == 1 else min)(pos.get("best", entry), extreme)  # from the entry fill on
            if side * (pos["best"] - entry * (1 + side * s.trailing_activation_pct / 100)) >= 0:
                level = pos["best"] - side * entry * s.trailing_stop_pct / 100
                if side * (level - active_stop(pos)[0]) > 0:
                    pos["trail"] = level
                    counts["trailed"] += 1
        counts.setdefault("exposed", 0)
        counts["exposed"] += exposed
        if pos:
            equity.append(max(cash + pos["side"] * pos["size"] * (c[i] - pos["entry"]), 0.0))
        else:
            equity.append(cash)
    if pos:
        close(n - 1, c[-1], "end")
        equity[-1] = cash
    return trades, equity, counts


def random_market(rng, n):
    """Bars aggregated from SUB lower-timeframe candles of a volatile random walk with price gaps."""
    steps = rng.normal(0, 0.012, n * SUB)
    steps[rng.random(n * SUB) < 0.02] *= 6  # jumps: gaps through stops, targets, liquidation prices
    close = 100 * np.exp(np.cumsum(steps))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.normal(0, 0.004, (2, n * SUB))) * close
    high = np.maximum(open_, close) + wick[0]
    low = np.maximum(np.minimum(open_, close) - wick[1], 0.01)
    index = pd.date_range("2024-01-01", periods=n * SUB, freq=STEP / SUB, tz="UTC")
    fine = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close}, index=index)
    bars = fine.resample(STEP).agg({"open": "first", "high": "max", "low": "min", "close": "last"})
    bars["volume"] = 1.0
    keep = rng.random(n) > 0.05  # missing candles
    keep[0] = True
    return bars[keep], fine


def random_settings(rng):
    return BacktestSettings(
        initial_capital=float(rng.choice([1_000.0, 10_000.0])),
        fee_rate=float(rng.choice([0.0, 0.001, 0.004])),
        slippage_bps=float(rng.choice([0.0, 5.0, 60.0])),
        leverage=int(rng.choice([1, 2, 5, 10])),
        position_size_pct=float(rng.choice([5.0, 12.5, 20.0])),
        stop_loss_pct=rng.choice([None, 0.5, 2.0, 9.5, 15.0]),
        take_profit_pct=rng.choice([None, 0.7, 4.0]),
        direction=str(rng.choice(["long", "short", "both"])),
    )


def with_pyramiding(settings, signals, seed):
    """Half the cases hold up to 2 or 3 entries; some of them with add signals of their own (otherwise the entry
    signals add), drawn apart from the other settings."""
    rng = np.random.default_rng(20_000 + seed)
    if seed % 2 == 0:
        return settings, signals
    settings = replace(settings, pyramiding=int(rng.choice([2, 3])))
    if seed % 4 == 1:
        signals = signals.assign(long_add=rng.random(len(signals)) < 0.3, short_add=rng.random(len(signals)) < 0.3)
    return settings, signals


def with_trail(settings, seed):
    """Two cases in three with a trailing stop (some only after a gain), drawn apart from the other settings."""
    rng = np.random.default_rng(10_000 + seed)
    if seed % 3 == 0:
        return settings
    return replace(
        settings,
        trailing_stop_pct=float(rng.choice([0.4, 1.5, 4.0])),
        trailing_activation_pct=float(rng.choice([0.0, 0.0, 1.0, 3.0])),
    )


def with_levels(signals, bars, seed):
    """Two cases in five with stop and target levels given bar by bar (rule 13), drawn apart from the rest: per bar
    and side a share of the entry price, a level off the bar's close (sometimes on the wrong side of the price:
    it fills at the next open), the entry less a distance, or none."""
    rng = np.random.default_rng(30_000 + seed)
    if seed % 5 not in (1, 2):
        return signals
    n = len(bars)
    close = bars["close"].to_numpy()
    columns = {}
    for side, sign in (("long", 1.0), ("short", -1.0)):
        for kind, toward in (("stop", -sign), ("target", sign)):
            pattern = rng.integers(0, 3, n)
            x = rng.uniform(-0.004, 0.06, n)
            a = np.where(pattern == 0, 1 + toward * x, np.where(pattern == 1, 0.0, 1.0))
            b = np.where(pattern == 0, 0.0, np.where(pattern == 1, close * (1 + toward * x), toward * x * close))
            none = rng.random(n) < 0.15
            columns[f"{side}_{kind}_a"] = np.where(none, np.nan, a)
            columns[f"{side}_{kind}_b"] = np.where(none, np.nan, b)
    return signals.assign(**columns)


@pytest.mark.parametrize("seed", range(60))
def test_kernel_matches_the_reference(seed):
    rng = np.random.default_rng(seed)
    bars, fine = random_market(rng, 120)
    density = rng.choice([0.05, 0.2, 0.5])
    signals = pd.DataFrame(rng.random((len(bars), 4)) < density, index=bars.index, columns=list(COLUMNS))
    settings = with_trail(random_settings(rng), seed)
    settings, signals = with_pyramiding(settings, signals, seed)
    signals = with_levels(signals, bars, seed)
    intrabar = None
    if seed % 3:
        intrabar = fine[rng.random(len(fine)) > 0.1]  # with holes: some bars have partial or no data
    result = run_backtest(bars, signals, settings, intrabar=intrabar, timeframe="1h")
    trades, equity, counts = reference(bars, signals, settings, intrabar)

    got = result.trades
    assert len(got) == len(trades), (settings, got)
    if trades:
        expected = pd.DataFrame(trades)
        assert list(got["side"]) == ["long" if side == 1 else "short" for side in expected["side"]]
        assert list(got["entry_time"]) == list(bars.index[expected["entry_i"]])
        assert list(got["exit_time"]) == list(bars.index[expected["exit_i"]])
        assert list(got["exit_reason"]) == list(expected["reason"])
        for ours, theirs in (("entry_price", "entry"), ("exit_price", "exit_price"), ("size", "size"),
                             ("notional", "notional"), ("fees", "fees"), ("pnl", "pnl")):  # fmt: skip
            np.testing.assert_allclose(got[ours].to_numpy(), expected[theirs].to_numpy(), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(got["return_pct"], expected["pnl"] / expected["margin"] * 100, rtol=1e-9)
        assert list(got["bars_held"]) == list(expected["exit_i"] - expected["entry_i"])
    np.testing.assert_allclose(result.equity.to_numpy(), equity, rtol=1e-9, atol=1e-9)
    assert result.metrics["ambiguous_bars"] == counts["ambiguous"]
    assert result.metrics["ambiguous_resolved_intrabar"] == counts["resolved"]
    assert result.metrics["exposure_pct"] == pytest.approx(counts["exposed"] / len(bars) * 100)
    assert result.equity.iloc[-1] == pytest.approx(settings.initial_capital + got["pnl"].sum(), abs=1e-6)
    assert (result.equity >= 0).all()


def test_the_random_cases_cover_every_exit_reason():
    """The seeds above are not all quiet: together they hit every exit reason and the intrabar paths."""
    reasons, ambiguous, resolved, trailed, stacked, level_exits = set(), 0, 0, 0, 0, set()
    for seed in range(60):
        rng = np.random.default_rng(seed)
        bars, fine = random_market(rng, 120)
        density = rng.choice([0.05, 0.2, 0.5])
        signals = pd.DataFrame(rng.random((len(bars), 4)) < density, index=bars.index, columns=list(COLUMNS))
        settings = with_trail(random_settings(rng), seed)
        settings, signals = with_pyramiding(settings, signals, seed)
        signals = with_levels(signals, bars, seed)
        intrabar = fine[rng.random(len(fine)) > 0.1] if seed % 3 else None
        result = run_backtest(bars, signals, settings, intrabar=intrabar, timeframe="1h")
        trailed += reference(bars, signals, settings, intrabar)[2]["trailed"]
        trades = result.trades
        stacked += int((trades.groupby("exit_time").size() > 1).sum()) if len(trades) else 0
        reasons |= set(result.trades["exit_reason"])
        if "long_stop_a" in signals.columns:
            level_exits |= set(zip(trades["side"], trades["exit_reason"], strict=True))
        ambiguous += result.metrics["ambiguous_bars"]
        resolved += result.metrics["ambiguous_resolved_intrabar"]
    assert reasons == {"signal", "stop_loss", "take_profit", "liquidation", "reversal", "end"}
    assert resolved > 0 and ambiguous > resolved
    assert trailed > 100  # the trail really moved the stop, many times
    assert stacked > 50  # positions of several entries (pyramiding) closed together, many times
    # the levels given bar by bar stopped and took profit on longs and shorts
    assert {(side, reason) for side in ("long", "short") for reason in ("stop_loss", "take_profit")} <= level_exits
