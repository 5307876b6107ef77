"""Pine Script v6 export of the built-in strategies (pure: no Django import).

``pine_script(strategy, params, settings=…)`` returns a complete TradingView ``strategy(…)`` that trades
the rules of ``strategy.compute()`` with the validated parameters (as ``input.int``/``input.float`` with
the ParamSpec's default, range and step, so the trader can still tweak them) and Trendy's backtest
settings, and whose every order sends Trendy's TradingView alert format (DESIGN.md) as its
``alert_message``. How it mirrors Trendy's backtest (``strategies.backtest``):

- signals on the bar's close, filled at the next bar's open: ``process_orders_on_close=false``,
  ``calc_on_every_tick=false``; no signal during the warm-up (``bar_index >= Strategy.warmup(params)``,
  as ``Strategy.signals()`` blanks the first bars);
- the indicators are the Pine built-ins ``strategies.indicators`` reproduces (``ta.ema``, ``ta.rsi``,
  ``ta.macd``, ``ta.stoch`` + ``ta.sma``, ``ta.bb`` (SMA ± mult × ``ta.stdev``, whose default
  ``biased=true`` is the population standard deviation, as Trendy's ``bollinger``), ``ta.supertrend``,
  ``ta.highest``/``ta.lowest`` for the Ichimoku midpoints, ``ta.crossover``/``ta.crossunder``); every
  ``ta.*`` call stands on its own line, because Pine v6 evaluates ``and``/``or`` lazily and a call in
  their right operand would skip bars and keep stale state;
- one position at a time, judged against the position held at the signal's close: in a long, the long
  exit (or a short entry with direction "both") closes it, a short entry with direction "both" reverses
  it (one ``strategy.entry("Short")``: the close and the new short at the same open); an entry whose own
  exit fires on the same bar, or long and short entries together while flat, are ignored; short signals
  are ignored with direction "long" and long ones with "short" (``strategy.risk.allow_entry_in`` too);
- stop loss, take profit and liquidation (the nearer of the stop loss and entry × (1 ∓ 1/leverage)) via
  ``strategy.exit(stop=…, limit=…)`` from ``strategy.position_avg_price``, placed with the entry so they
  guard the entry bar as well;
- settings → ``strategy(initial_capital, commission_type=percent, commission_value=fee_rate × 100,
  default_qty_type=percent_of_equity, default_qty_value=position_size_pct × leverage,
  margin_long/margin_short=100 / leverage)``.

Where TradingView cannot do exactly what Trendy's backtest does, the script's header says so (see
``_DIFFERENCES``): slippage (Pine counts it in ticks), a bar touching both stop and target, the
entry-bar stop/target levels, and quantity sizing.

The generated Pine avoids ``else``/``else if`` (flat ``if`` statements on exclusive conditions
instead): it is equally valid Pine, and pynescript's parser (the tests' check) takes seconds on every
``else if`` chain.

Why this file is long: one Pine template per built-in strategy, each a mirror of its Python rules; they are
easiest to check against each other side by side."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from strategies.interface import ParamSpec, Strategy, StrategyError, _

__all__ = ["ALERT_KEYS", "DEFAULT_SETTINGS", "RULES", "PineRules", "alert_payload", "pine_filename", "pine_script"]

# Trendy's backtest defaults (strategies.backtest.BacktestSettings).
DEFAULT_SETTINGS: dict[str, Any] = {
    "initial_capital": 10_000.0,
    "fee_rate": 0.001,
    "slippage_bps": 5.0,
    "leverage": 1,
    "position_size_pct": 10.0,
    "stop_loss_pct": 2.0,
    "take_profit_pct": 4.0,
    "direction": "long",
    "trailing_stop_pct": None,  # none
    "trailing_activation_pct": 0.0,
    "pyramiding": 1,
}
DIRECTIONS = ("long", "short", "both")

# The keys of Trendy's TradingView alert format (DESIGN.md), in its order; "bot" is optional and not sent.
ALERT_KEYS = (
    "secret", "action", "symbol", "exchange", "price", "position", "size", "size_pct", "leverage",
    "stop_loss_pct", "take_profit_pct", "order_id", "time",
)  # fmt: skip


@dataclass(frozen=True)
class PineRules:
    """One strategy in Pine, over inputs named as its parameters.

    ``body`` defines ``longEntry``, ``longExit``, ``shortEntry`` and ``shortExit`` exactly as the
    strategy's ``compute()`` does, and plots its lines; ``warmup`` is a Pine expression equal to
    ``Strategy.warmup(params)``; ``checks`` are ``(Pine condition that is an error, message)`` pairs
    mirroring ``Strategy.check`` (the inputs can be changed in TradingView).
    """

    body: str
    warmup: str
    checks: tuple[tuple[str, str], ...] = ()


_FAST_BELOW_SLOW = ("fast >= slow", "The fast period must be below the slow period.")
_OVERSOLD_BELOW_OVERBOUGHT = ("oversold >= overbought", "The oversold level must be below the overbought level.")

RULES: dict[str, PineRules] = {
    "ema_crossover": PineRules(
        body="""
fastMa = ta.ema(close, fast)
slowMa = ta.ema(close, slow)
crossUp = ta.crossover(fastMa, slowMa)
crossDown = ta.crossunder(fastMa, slowMa)
longEntry = crossUp
longExit = crossDown
shortEntry = crossDown
shortExit = crossUp
plot(fastMa, "Fast EMA", color=color.orange)
plot(slowMa, "Slow EMA", color=color.blue)
""",
        warmup="slow",
        checks=(_FAST_BELOW_SLOW,),
    ),
    "supertrend": PineRules(
        body="""
[stLine, stDirection] = ta.supertrend(factor, atr_period)
// Pine's convention: direction -1 is an up-trend (line below the price), +1 a down-trend.
turnsUp = stDirection == -1 and stDirection[1] == 1
turnsDown = stDirection == 1 and stDirection[1] == -1
longEntry = turnsUp
longExit = turnsDown
shortEntry = turnsDown
shortExit = turnsUp
plot(stLine, "SuperTrend", color=stDirection < 0 ? color.green : color.red)
""",
        warmup="atr_period + 1",
    ),
    "rsi_ema": PineRules(
        body="""
rsiValue = ta.rsi(close, rsi_length)
trend = ta.ema(close, ema_length)
rsiUp = ta.crossover(rsiValue, oversold)
rsiDown = ta.crossunder(rsiValue, overbought)
closeUnderTrend = ta.crossunder(close, trend)
closeOverTrend = ta.crossover(close, trend)
longEntry = close > trend and rsiUp
longExit = rsiDown or closeUnderTrend
shortEntry = close < trend and rsiDown
shortExit = rsiUp or closeOverTrend
plot(trend, "Trend EMA", color=color.blue)
plot(rsiValue, "RSI", display=display.data_window)
""",
        warmup="math.max(ema_length, rsi_length + 1)",
        checks=(_OVERSOLD_BELOW_OVERBOUGHT,),
    ),
    "macd_stoch": PineRules(
        body="""
[macdLine, signalLine, histLine] = ta.macd(close, fast, slow, signal)
rawK = ta.stoch(close, high, low, stoch_k)
k = ta.sma(rawK, stoch_smooth)
d = ta.sma(k, stoch_d)
macdUp = ta.crossover(macdLine, signalLine)
macdDown = ta.crossunder(macdLine, signalLine)
kUnderD = ta.crossunder(k, d)
kOverD = ta.crossover(k, d)
longEntry = macdUp and k > d and k < overbought
longExit = macdDown or (kUnderD and k > overbought)
shortEntry = macdDown and k < d and k > oversold
shortExit = macdUp or (kOverD and k < oversold)
// Oscillators: in the data window only (they would squash the price scale of this overlay).
plot(macdLine, "MACD", display=display.data_window)
plot(signalLine, "MACD signal", display=display.data_window)
plot(k, "%K", display=display.data_window)
plot(d, "%D", display=display.data_window)
""",
        warmup="math.max(slow + signal - 1, stoch_k + stoch_smooth + stoch_d - 2)",
        checks=(_FAST_BELOW_SLOW, _OVERSOLD_BELOW_OVERBOUGHT),
    ),
    "ichimoku_cloud": PineRules(
        body="""
donchian(len) => math.avg(ta.lowest(low, len), ta.highest(high, len))
tenkan = donchian(conversion)
kijun = donchian(base)
spanA = math.avg(tenkan, kijun)
spanB = donchian(span_b)
// The cloud TradingView draws at this bar: spans computed displacement - 1 bars ago (no future values).
cloudA = spanA[displacement - 1]
cloudB = spanB[displacement - 1]
cloudTop = math.max(cloudA, cloudB)
cloudBottom = math.min(cloudA, cloudB)
// The lagging span's test: this close against the close displacement - 1 bars ago.
pastClose = close[displacement - 1]
tkUp = ta.crossover(tenkan, kijun)
tkDown = ta.crossunder(tenkan, kijun)
longEntry = tkUp and close > cloudTop and close > pastClose
longExit = tkDown or close < cloudBottom
shortEntry = tkDown and close < cloudBottom and close < pastClose
shortExit = tkUp or close > cloudTop
plot(tenkan, "Tenkan", color=color.blue)
plot(kijun, "Kijun", color=color.maroon)
plot(cloudA, "Senkou A (cloud at this bar)", color=color.green)
plot(cloudB, "Senkou B (cloud at this bar)", color=color.red)
""",
        warmup="span_b + displacement - 2",
        checks=(("conversion >= base or base >= span_b", "Periods must rise: conversion < base < span B."),),
    ),
    "bb_rsi": PineRules(
        body="""
// ta.bb = ta.sma ± mult × ta.stdev (biased=true: the population standard deviation), as Trendy.
[basis, upper, lower] = ta.bb(close, bb_length, bb_mult)
rsiValue = ta.rsi(close, rsi_length)
stretchedDown = close < lower and rsiValue < oversold
stretchedUp = close > upper and rsiValue > overbought
closeOverBasis = ta.crossover(close, basis)
rsiOverOverbought = ta.crossover(rsiValue, overbought)
closeUnderBasis = ta.crossunder(close, basis)
rsiUnderOversold = ta.crossunder(rsiValue, oversold)
// Entries fire on the first bar of a stretch, not on every bar of it.
longEntry = stretchedDown and not stretchedDown[1]
longExit = closeOverBasis or rsiOverOverbought
shortEntry = stretchedUp and not stretchedUp[1]
shortExit = closeUnderBasis or rsiUnderOversold
plot(basis, "Basis", color=color.orange)
plot(upper, "Upper", color=color.blue)
plot(lower, "Lower", color=color.blue)
plot(rsiValue, "RSI", display=display.data_window)
""",
        warmup="math.max(bb_length, rsi_length + 1)",
        checks=(_OVERSOLD_BELOW_OVERBOUGHT,),
    ),
}

_ORDERS = """
// --- Orders: judged against the position held at this close, filled at the next bar's open -------
allowLong = direction != "short"
allowShort = direction != "long"
strategy.risk.allow_entry_in(direction == "long" ? strategy.direction.long : direction == "short" ? strategy.direction.short : strategy.direction.all)
warmedUp = bar_index >= warmupBars
// An entry whose own exit fires on the same bar is ignored (as in Trendy's backtest).
openLong = warmedUp and allowLong and longEntry and not longExit
openShort = warmedUp and allowShort and shortEntry and not shortExit
closeLong = warmedUp and (longExit or (allowShort and shortEntry))
closeShort = warmedUp and (shortExit or (allowLong and longEntry))
// In a position: a reversal, or an exit. Flat: long and short entries on the same bar conflict, and
// neither is taken. (Flat ifs on exclusive conditions: the same as an if / else if chain.)
inLong = strategy.position_size > 0
inShort = strategy.position_size < 0
isFlat = strategy.position_size == 0
enterLong = isFlat and openLong and not openShort
enterShort = isFlat and openShort and not openLong
// Reversal: one order closes the position and opens the other side at the next open.
reverseToLong = inShort and openLong
reverseToShort = inLong and openShort
exitLong = inLong and closeLong and not openShort
exitShort = inShort and closeShort and not openLong
if enterLong
    strategy.entry("Long", strategy.long, comment="long", alert_message=alertMessage)
if enterShort
    strategy.entry("Short", strategy.short, comment="short", alert_message=alertMessage)
if reverseToLong
    strategy.entry("Long", strategy.long, comment="reversal", alert_message=alertMessage)
if reverseToShort
    strategy.entry("Short", strategy.short, comment="reversal", alert_message=alertMessage)
if exitLong
    strategy.close("Long", comment="exit", alert_message=alertMessage)
if exitShort
    strategy.close("Short", comment="exit", alert_message=alertMessage)
"""

_RISK = """
// --- Stop loss, take profit and liquidation (Trendy's backtest rules 4 and 5) ----------------------
// From the entry price: a long's stop at entry × (1 - distance) and target at entry × (1 + take profit),
// a short's mirrored. The stop distance is the nearer of the stop loss and the liquidation distance
// 1 / leverage (a long at leverage 1 is never liquidated). Placed together with the entry, so they
// guard the entry bar too: until the entry has filled its levels come from this bar's close (the price
// the next open fills near), from the bar after from strategy.position_avg_price exactly.
float slDistance = stopLossPct > 0 ? stopLossPct / 100 : na
float tpDistance = takeProfitPct > 0 ? takeProfitPct / 100 : na
float liqDistance = 1.0 / leverage
float longStopDistance = leverage == 1 ? slDistance : na(slDistance) ? liqDistance : math.min(slDistance, liqDistance)
float shortStopDistance = na(slDistance) ? liqDistance : math.min(slDistance, liqDistance)
longBase = strategy.position_size > 0 ? strategy.position_avg_price : close
shortBase = strategy.position_size < 0 ? strategy.position_avg_price : close
longStop = longBase * (1 - longStopDistance)
longTarget = longBase * (1 + tpDistance)
shortStop = shortBase * (1 + shortStopDistance)
shortTarget = shortBase * (1 - tpDistance)
if allowLong and not (na(longStopDistance) and na(tpDistance))
    strategy.exit("Long SL/TP", from_entry="Long", stop=longStop, limit=longTarget, comment_loss="stop loss", comment_profit="take profit", alert_message=alertMessage{long_trail})
if allowShort
    strategy.exit("Short SL/TP", from_entry="Short", stop=shortStop, limit=shortTarget, comment_loss="stop loss", comment_profit="take profit", alert_message=alertMessage{short_trail})
"""
# Pyramiding (Trendy's rule 2): an entry signal in the direction held adds an entry, up to strategy(pyramiding=).
_ADDS = """
addLong = inLong and openLong and not closeLong
addShort = inShort and openShort and not closeShort
if addLong
    strategy.entry("Long", strategy.long, comment="add", alert_message=alertMessage)
if addShort
    strategy.entry("Short", strategy.short, comment="add", alert_message=alertMessage)
"""
# A trailing stop (Trendy's rule 11) in ticks written from the entry price, as Trendy's Pine engine asks.
_TRAIL = (
    ", trail_points={base} * trailStartPct / 100 / syminfo.mintick, "
    "trail_offset={base} * trailingStopPct / 100 / syminfo.mintick"
)

_DIFFERENCES = """\
// Where TradingView cannot do exactly what Trendy's backtest does:
// - Slippage: Trendy charges {slippage} bps against the trader on every market fill (not on the take
//   profit); Pine counts slippage in ticks of the symbol, unknown here, so it is 0 below: set it under
//   Properties if you want TradingView to model it.
// - A bar that touches both the stop and the target: Trendy assumes the stop filled first (or asks a
//   lower timeframe); TradingView assumes a path through the bar (open, then the nearer of high and low).
//   Its "bar magnifier" (use_bar_magnifier, a paid plan) is the equivalent of Trendy's lower timeframe.
// - The entry bar's stop and target are placed from the signal bar's close, before the fill price is
//   known; Trendy uses the fill (the next open). From the next bar on both use the entry price
//   (TradingView rounds order prices to the symbol's tick).
// - Quantity: TradingView sizes an order from the equity and close of the signal bar (and rounds it to
//   the symbol's lot size); Trendy from the equity and the fill price at the next open.
// - Recursive indicators (EMA, RMA, RSI, ATR) depend on where their history starts: a chart with more
//   history than Trendy's backtest period can differ slightly in its first bars, never after.
// - A trailing stop (when set): Trendy moves it after each closed bar from the bar's high or low, as a
//   live bot re-prices its stop order; TradingView also trails inside the bar, so it can exit earlier."""


def _fail(template: str, params: dict[str, Any] | None = None) -> NoReturn:
    raise StrategyError(template, params or {})


def _finite(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Trendy's backtest settings, defaults filled in, checked as BacktestSettings.validate does.

    A missing or None value takes the default, except the stop loss and take profit, where None means
    none (as in the backtest). Raises StrategyError for anything the backtest would refuse.
    """
    given = dict(settings or {})
    unknown = sorted(set(given) - set(DEFAULT_SETTINGS))
    if unknown:
        _fail(
            _("Unknown settings: %(names)s (known: %(known)s)."),
            {"names": ", ".join(unknown), "known": ", ".join(DEFAULT_SETTINGS)},
        )
    merged = dict(DEFAULT_SETTINGS)
    for key, value in given.items():
        if value is not None or key in ("stop_loss_pct", "take_profit_pct", "trailing_stop_pct"):
            merged[key] = value
    capital = _finite(merged["initial_capital"])
    if capital is None or capital <= 0:
        _fail(
            _("Initial capital must be a number greater than 0 (got %(value)r)."), {"value": merged["initial_capital"]}
        )
    fee = _finite(merged["fee_rate"])
    if fee is None or not 0 <= fee < 1:
        _fail(
            _("Fee rate must be a fraction from 0 to below 1, e.g. 0.001 for 0.1 %% (got %(value)r)."),
            {"value": merged["fee_rate"]},
        )
    slippage = _finite(merged["slippage_bps"])
    if slippage is None or not 0 <= slippage < 10_000:
        _fail(
            _("Slippage must be from 0 to below 10000 basis points (got %(value)r)."), {"value": merged["slippage_bps"]}
        )
    leverage = _finite(merged["leverage"])
    if leverage is None or leverage != int(leverage) or not 1 <= leverage <= 10:
        _fail(_("Leverage must be a whole number from 1 to 10 (got %(value)r)."), {"value": merged["leverage"]})
    size = _finite(merged["position_size_pct"])
    if size is None or not 5 <= size <= 20:
        _fail(
            _("Position size must be from 5 to 20 %% of equity (got %(value)r)."),
            {"value": merged["position_size_pct"]},
        )
    levels: dict[str, float | None] = {}
    for key, label in (("stop_loss_pct", _("Stop loss")), ("take_profit_pct", _("Take profit"))):
        value = merged[key]
        number = None if value is None else _finite(value)
        if value is not None and (number is None or number <= 0):
            _fail(
                _("%(label)s must be a percentage greater than 0, or none (got %(value)r)."),
                {"label": label, "value": value},
            )
        levels[key] = number
    if merged["direction"] not in DIRECTIONS:
        _fail(_("Direction must be one of long, short, both (got %(value)r)."), {"value": merged["direction"]})
    return {
        "initial_capital": _plain(capital),
        "fee_rate": fee,
        "slippage_bps": _plain(slippage),
        "leverage": int(leverage),
        "position_size_pct": _plain(size),
        "stop_loss_pct": None if levels["stop_loss_pct"] is None else _plain(levels["stop_loss_pct"]),
        "take_profit_pct": None if levels["take_profit_pct"] is None else _plain(levels["take_profit_pct"]),
        "direction": merged["direction"],
        **_trail_settings(merged),
    }


def _risk_lines(risk: Mapping[str, Any]) -> str:
    """The stop loss, take profit and liquidation block, with the trailing stop when the settings have one."""
    trail = risk["trailing_stop_pct"] is not None
    text = _RISK.rstrip()
    for side, base in (("long", "longBase"), ("short", "shortBase")):
        text = text.replace("{" + side + "_trail}", _TRAIL.format(base=base) if trail else "")
    if trail:  # the exit carries the trail even when there is no stop loss or take profit
        text = text.replace("if allowLong and not (na(longStopDistance) and na(tpDistance))", "if allowLong")
    return text


def _trail_settings(merged: Mapping[str, Any]) -> dict[str, Any]:
    trail, start = merged["trailing_stop_pct"], merged["trailing_activation_pct"] or 0
    number, begin = (None if trail is None else _finite(trail)), _finite(start)
    if trail is not None and (number is None or not 0 < number < 100):
        _fail(
            _("Trailing stop must be a percentage from above 0 to below 100, or none (got %(value)r)."),
            {"value": trail},
        )
    if begin is None or begin < 0:
        _fail(_("Trailing activation must be a percentage of 0 or more (got %(value)r)."), {"value": start})
    pyramiding = _finite(merged["pyramiding"])
    if pyramiding is None or pyramiding != int(pyramiding) or not 1 <= pyramiding <= 10:
        _fail(_("Pyramiding must be a whole number from 1 to 10 (got %(value)r)."), {"value": merged["pyramiding"]})
    return {
        "trailing_stop_pct": None if number is None else _plain(number),
        "trailing_activation_pct": _plain(begin),
        "pyramiding": int(pyramiding),
    }


def _plain(number: float) -> float | int:
    """A whole float as int (10.0 -> 10), so that JSON and Pine read naturally."""
    return int(number) if float(number).is_integer() else float(number)


def _number(value: float) -> str:
    """A Pine numeric literal: shortest round-tripping repr, without a trailing ``.0``."""
    return repr(_plain(value))


def _float(value: float) -> str:
    """A Pine float literal (always with a decimal point, so input.float infers float)."""
    return repr(float(value))


def _pine_string(text: str, quote: str = '"') -> str:
    """``text`` as a Pine string literal (backslash escapes, as in Pine)."""
    escaped = text.replace("\\", "\\\\").replace(quote, "\\" + quote).replace("\n", "\\n").replace("\r", "\\r")
    return f"{quote}{escaped}{quote}"


def _input(spec: ParamSpec, value: float | int) -> str:
    if spec.kind is int:
        kind, literal = "int", str(int(value))
        minval, maxval, step = (str(int(b)) for b in (spec.minimum, spec.maximum, spec.step))
    else:
        kind, literal = "float", _float(value)
        minval, maxval, step = (_float(b) for b in (spec.minimum, spec.maximum, spec.step))
    return (
        f"{spec.name} = input.{kind}({literal}, {_pine_string(spec.label)}, minval={minval}, maxval={maxval}, "
        f'step={step}, group="Strategy")'
    )


def alert_payload(settings: Mapping[str, Any], secret_placeholder: str) -> dict[str, Any]:
    """Trendy's alert format (DESIGN.md): TradingView fills the ``{{…}}`` placeholders when an order fills.

    ``size_pct``, ``leverage``, ``stop_loss_pct`` and ``take_profit_pct`` carry the exported settings
    (``null`` for a stop loss or take profit that is off: the bot's own settings apply).
    """
    return {
        "secret": secret_placeholder,
        "action": "{{strategy.order.action}}",
        "symbol": "{{ticker}}",
        "exchange": "{{exchange}}",
        "price": "{{close}}",
        "position": "{{strategy.market_position}}",
        "size": "{{strategy.order.contracts}}",
        "size_pct": settings["position_size_pct"],
        "leverage": settings["leverage"],
        "stop_loss_pct": settings["stop_loss_pct"],
        "take_profit_pct": settings["take_profit_pct"],
        "order_id": "{{strategy.order.id}}",
        "time": "{{timenow}}",
    }


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines


def _comment(text: str) -> list[str]:
    return [f"// {line}" for line in _wrap(text, 100)]


def pine_script(
    strategy: Strategy,
    params: Mapping[str, Any] | None,
    *,
    settings: Mapping[str, Any] | None = None,
    webhook_secret_placeholder: str = "YOUR_WEBHOOK_SECRET",  # noqa: S107 - a placeholder the trader replaces
) -> str:
    """A complete Pine Script v6 strategy trading ``strategy`` with ``params`` and Trendy's ``settings``.

    ``params`` are validated with ``strategy.validate`` (defaults filled in); ``settings`` are Trendy's
    backtest settings (``DEFAULT_SETTINGS`` keys; missing ones take the defaults). Raises StrategyError
    for a bad parameter, a bad setting, or a strategy without a Pine version.
    """
    clean = strategy.validate(params)
    rules = RULES.get(strategy.slug)
    if rules is None:
        _fail(_("%(strategy)s has no Pine Script export."), {"strategy": strategy.name})
    risk = _settings(settings)
    leverage = risk["leverage"]
    size_pct = risk["position_size_pct"]
    secret = str(webhook_secret_placeholder)
    alert = json.dumps(alert_payload(risk, secret), ensure_ascii=False, separators=(", ", ": "))
    title = f"Trendy {strategy.name} ({', '.join(f'{name}={_number(value)}' for name, value in clean.items())})"
    stop = "off" if risk["stop_loss_pct"] is None else f"{_number(risk['stop_loss_pct'])} %"
    target = "off" if risk["take_profit_pct"] is None else f"{_number(risk['take_profit_pct'])} %"
    header = [
        "//@version=6",
        f"// {title}",
        "// Generated by Trendy: the same rules and parameters as Trendy's backtest and live engine. To change",
        "// the risk settings or the alert, export again from Trendy; the parameters can be tweaked below.",
        "//",
        "// Rules:",
        *_comment(strategy.description),
        "//",
        *_comment(
            "Execution, as in Trendy's backtest: signals on the bar's close, orders at the next bar's open; one "
            "position at a time; an entry in the other direction (direction both) reverses the position at that "
            "open; an entry whose exit fires on the same bar, or long and short entries together, are ignored; no "
            f"signal during the indicators' warm-up. Settings: capital {_number(risk['initial_capital'])}, fee "
            f"{_number(risk['fee_rate'] * 100)} % per side, margin {_number(size_pct)} % of equity × leverage "
            f"{leverage}, stop loss {stop}, take profit {target}, direction {risk['direction']}."
        ),
        "//",
        *_comment(
            'Alerts: add an alert on this strategy (Condition: this script, "Order fills only"), set its Message '
            "to {{strategy.order.alert_message}} (exactly that) and its Webhook URL to your Trendy webhook "
            f"endpoint, and replace {' '.join(secret.split())} in alertMessage below with that endpoint's secret. "
            "Every entry, exit, reversal, stop loss and take profit then sends Trendy's TradingView alert format; "
            'Trendy follows "position" (the target position), so a reversal is one alert.'
        ),
        "//",
        _DIFFERENCES.format(slippage=_number(risk["slippage_bps"])),
    ]
    strategy_call = (
        f"strategy({_pine_string(title)}, overlay=true, process_orders_on_close=false, calc_on_every_tick=false, "
        "calc_on_order_fills=false, fill_orders_on_standard_ohlc=true, backtest_fill_limits_assumption=0, "
        f"initial_capital={_number(risk['initial_capital'])}, commission_type=strategy.commission.percent, "
        f"commission_value={_number(risk['fee_rate'] * 100)}, slippage=0, "
        f"default_qty_type=strategy.percent_of_equity, default_qty_value={_number(size_pct * leverage)}, "
        f"margin_long={_number(100 / leverage)}, margin_short={_number(100 / leverage)}"
        + (f", pyramiding={risk['pyramiding']})" if risk["pyramiding"] > 1 else ")")
    )
    settings_lines = [
        "// Trendy's risk settings (also in strategy() above and in the alert message).",
        f"leverage = {leverage}",
        f"stopLossPct = {_float(risk['stop_loss_pct'] or 0)}  // 0 = no stop loss",
        f"takeProfitPct = {_float(risk['take_profit_pct'] or 0)}  // 0 = no take profit",
        *(
            [
                f"trailingStopPct = {_float(risk['trailing_stop_pct'])}  // the trail's distance, % of the entry",
                f"trailStartPct = {_float(risk['trailing_activation_pct'])}  // the gain before the trail starts",
            ]
            if risk["trailing_stop_pct"] is not None
            else []
        ),
        f"direction = input.string({_pine_string(risk['direction'])}, "
        '"Direction", options=["long", "short", "both"], group="Risk")',
        f"alertMessage = {_pine_string(alert, quote=chr(39))}",
    ]
    checks = [f"if {condition}\n    runtime.error({_pine_string(message)})" for condition, message in rules.checks]
    lines = [
        *header,
        strategy_call,
        "",
        "// --- Parameters -------------------------------------------------------------------------------",
        *(_input(spec, clean[spec.name]) for spec in strategy.params),
        *checks,
        "",
        *settings_lines,
        "",
        "// --- Rules -------------------------------------------------------------------------------------",
        rules.body.strip(),
        "// No signal during the warm-up, as Trendy's signals() (the first bars of the chart).",
        f"warmupBars = {rules.warmup}",
        _ORDERS.rstrip() + (_ADDS.rstrip() if risk["pyramiding"] > 1 else ""),
        _risk_lines(risk),
        "",
    ]
    return "\n".join(lines)


def pine_filename(strategy: Strategy, params: Mapping[str, Any] | None) -> str:
    """``trendy-<slug>-<values in parameter order>.pine``, e.g. ``trendy-ema_crossover-12-26.pine``."""
    clean = strategy.validate(params)
    return f"trendy-{strategy.slug}-{'-'.join(_number(value) for value in clean.values())}.pine"
