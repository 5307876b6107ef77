"""Pine Script v6 export of the built-in strategies (pure: no Django import).

The script trades the same rules with the same parameters as Trendy's ``signals()`` and backtest:
signals on the bar's close, orders filled at the next bar's open (``process_orders_on_close=false``),
the same stop loss / take profit from the average entry price, and every order sends an alert in
Trendy's TradingView alert format, so the alert can drive a Trendy webhook endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from strategies.interface import ParamSpec, Strategy

DEFAULT_SETTINGS: dict[str, Any] = {
    "initial_capital": 10_000.0,
    "fee_rate": 0.001,
    "slippage_bps": 5.0,
    "leverage": 1,
    "position_size_pct": 10.0,
    "stop_loss_pct": 2.0,
    "take_profit_pct": 4.0,
    "direction": "long",
}

# The rules of each strategy in Pine, over the inputs named as the parameters. Each body defines
# longEntry, longExit, shortEntry and shortExit, exactly as the strategy's compute() does.
BODIES: dict[str, str] = {
    "ema_crossover": """
fastMa = ta.ema(close, fast)
slowMa = ta.ema(close, slow)
longEntry = ta.crossover(fastMa, slowMa)
longExit = ta.crossunder(fastMa, slowMa)
shortEntry = longExit
shortExit = longEntry
plot(fastMa, "Fast EMA", color=color.orange)
plot(slowMa, "Slow EMA", color=color.blue)
""",
    "supertrend": """
[stLine, stDirection] = ta.supertrend(factor, atr_period)
// Pine's convention: direction -1 is an up-trend (line below the price), +1 a down-trend.
longEntry = stDirection == -1 and stDirection[1] == 1
longExit = stDirection == 1 and stDirection[1] == -1
shortEntry = longExit
shortExit = longEntry
plot(stLine, "SuperTrend", color=stDirection < 0 ? color.green : color.red)
""",
    "rsi_ema": """
rsiValue = ta.rsi(close, rsi_length)
trend = ta.ema(close, ema_length)
// Every ta.* call on its own line: Pine's and/or stop early, which would skip a call on some bars.
rsiUp = ta.crossover(rsiValue, oversold)
rsiDown = ta.crossunder(rsiValue, overbought)
closeBelowTrend = ta.crossunder(close, trend)
closeAboveTrend = ta.crossover(close, trend)
longEntry = close > trend and rsiUp
longExit = rsiDown or closeBelowTrend
shortEntry = close < trend and rsiDown
shortExit = rsiUp or closeAboveTrend
plot(trend, "Trend EMA", color=color.blue)
""",
    "macd_stoch": """
[macdLine, signalLine, histLine] = ta.macd(close, fast, slow, signal)
k = ta.sma(ta.stoch(close, high, low, stoch_k), stoch_smooth)
d = ta.sma(k, stoch_d)
// Every ta.* call on its own line: Pine's and/or stop early, which would skip a call on some bars.
macdUp = ta.crossover(macdLine, signalLine)
macdDown = ta.crossunder(macdLine, signalLine)
kUnderD = ta.crossunder(k, d)
kOverD = ta.crossover(k, d)
longEntry = macdUp and k > d and k < overbought
longExit = macdDown or (kUnderD and k > overbought)
shortEntry = macdDown and k < d and k > oversold
shortExit = macdUp or (kOverD and k < oversold)
""",
    "ichimoku_cloud": """
donchian(len) => math.avg(ta.lowest(low, len), ta.highest(high, len))
tenkan = donchian(conversion)
kijun = donchian(base)
spanA = math.avg(tenkan, kijun)
spanB = donchian(span_b)
// The cloud drawn at this bar: spans computed displacement - 1 bars ago (no future values).
cloudA = spanA[displacement - 1]
cloudB = spanB[displacement - 1]
cloudTop = math.max(cloudA, cloudB)
cloudBottom = math.min(cloudA, cloudB)
pastClose = close[displacement - 1]
// Every ta.* call on its own line: Pine's and/or stop early, which would skip a call on some bars.
tkUp = ta.crossover(tenkan, kijun)
tkDown = ta.crossunder(tenkan, kijun)
longEntry = tkUp and close > cloudTop and close > pastClose
longExit = tkDown or close < cloudBottom
shortEntry = tkDown and close < cloudBottom and close < pastClose
shortExit = tkUp or close > cloudTop
plot(tenkan, "Tenkan", color=color.blue)
plot(kijun, "Kijun", color=color.maroon)
plot(cloudA, "Senkou A", color=color.green)
plot(cloudB, "Senkou B", color=color.red)
""",
    "bb_rsi": """
basis = ta.sma(close, bb_length)
deviation = bb_mult * ta.stdev(close, bb_length)  // population standard deviation, as Trendy
upper = basis + deviation
lower = basis - deviation
rsiValue = ta.rsi(close, rsi_length)
stretchedDown = close < lower and rsiValue < oversold
stretchedUp = close > upper and rsiValue > overbought
longEntry = stretchedDown and not stretchedDown[1]
// Every ta.* call on its own line: Pine's and/or stop early, which would skip a call on some bars.
closeOverBasis = ta.crossover(close, basis)
rsiOverBought = ta.crossover(rsiValue, overbought)
closeUnderBasis = ta.crossunder(close, basis)
rsiUnderSold = ta.crossunder(rsiValue, oversold)
longExit = closeOverBasis or rsiOverBought
shortEntry = stretchedUp and not stretchedUp[1]
shortExit = closeUnderBasis or rsiUnderSold
plot(basis, "Basis", color=color.orange)
plot(upper, "Upper", color=color.blue)
plot(lower, "Lower", color=color.blue)
""",
}

TRADING = """
// --- Orders: exits (and reversals) first, then entries, all at the next bar's open ---------
allowLong = direction != "short"
allowShort = direction != "long"
strategy.risk.allow_entry_in(direction == "long" ? strategy.direction.long : direction == "short" ? strategy.direction.short : strategy.direction.all)
if strategy.position_size > 0 and (longExit or (allowShort and shortEntry))
    strategy.close("Long", comment="exit", alert_message=alertMessage)
if strategy.position_size < 0 and (shortExit or (allowLong and longEntry))
    strategy.close("Short", comment="exit", alert_message=alertMessage)
if allowLong and longEntry and strategy.position_size <= 0
    strategy.entry("Long", strategy.long, alert_message=alertMessage)
if allowShort and shortEntry and strategy.position_size >= 0
    strategy.entry("Short", strategy.short, alert_message=alertMessage)
// Stop loss and take profit, attached to the entry so they guard the entry bar too (as in Trendy's
// backtest). loss/profit are ticks from the entry fill; they are sized from the price they are placed at
// (the last close, or the average entry price once in a position), so they match Trendy's percentages
// up to the gap between that price and the fill.
basePrice = strategy.position_size != 0 ? strategy.position_avg_price : close
lossTicks = stopLossPct > 0 ? basePrice * stopLossPct / 100 / syminfo.mintick : na
profitTicks = takeProfitPct > 0 ? basePrice * takeProfitPct / 100 / syminfo.mintick : na
if allowLong
    strategy.exit("Long SL/TP", from_entry="Long", loss=lossTicks, profit=profitTicks, alert_message=alertMessage)
if allowShort
    strategy.exit("Short SL/TP", from_entry="Short", loss=lossTicks, profit=profitTicks, alert_message=alertMessage)
"""


def _number(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _input(spec: ParamSpec, value: float | int) -> str:
    kind = "int" if spec.kind is int else "float"
    shown = str(int(value)) if spec.kind is int else f"{float(value)!r}"
    return (
        f'{spec.name} = input.{kind}({shown}, "{spec.label}", minval={_number(spec.minimum)}, '
        f"maxval={_number(spec.maximum)}, step={_number(spec.step)})"
    )


def alert_payload(settings: Mapping[str, Any], secret_placeholder: str) -> dict[str, Any]:
    """Trendy's alert format (DESIGN.md) with TradingView placeholders filled in when the alert fires."""
    payload: dict[str, Any] = {
        "secret": secret_placeholder,
        "action": "{{strategy.order.action}}",
        "symbol": "{{ticker}}",
        "exchange": "{{exchange}}",
        "price": "{{close}}",
        "position": "{{strategy.market_position}}",
        "size": "{{strategy.order.contracts}}",
        "size_pct": settings["position_size_pct"],
        "leverage": settings["leverage"],
        "order_id": "{{strategy.order.id}}",
        "time": "{{timenow}}",
    }
    if settings.get("stop_loss_pct"):
        payload["stop_loss_pct"] = settings["stop_loss_pct"]
    if settings.get("take_profit_pct"):
        payload["take_profit_pct"] = settings["take_profit_pct"]
    return payload


def pine_script(
    strategy: Strategy,
    params: Mapping[str, Any] | None,
    *,
    settings: Mapping[str, Any] | None = None,
    webhook_secret_placeholder: str = "YOUR_WEBHOOK_SECRET",  # noqa: S107 - a placeholder the trader replaces
) -> str:
    """A complete Pine Script v6 strategy; raises StrategyError for bad parameters."""
    clean = strategy.validate(params)
    merged = {**DEFAULT_SETTINGS, **{k: v for k, v in (settings or {}).items() if v is not None}}
    for key in ("stop_loss_pct", "take_profit_pct"):
        if settings is not None and key in settings and settings[key] is None:
            merged[key] = 0.0
    leverage = int(merged["leverage"])
    size_pct = float(merged["position_size_pct"])
    title = f"Trendy {strategy.name} ({', '.join(f'{k}={v}' for k, v in clean.items())})"
    alert = json.dumps(alert_payload(merged, webhook_secret_placeholder), separators=(", ", ": "))
    description = " ".join(strategy.description.split())
    lines = [
        "// Generated by Trendy. Rules, exactly as Trendy backtests and trades them:",
        *(f"// {chunk}" for chunk in _wrap(description, 96)),
        "//",
        "// Alerts: create an alert on this strategy with the message {{strategy.order.alert_message}} and",
        "// your Trendy webhook URL; replace YOUR_WEBHOOK_SECRET below with that endpoint's secret.",
        f"// Trendy models {_number(merged['slippage_bps'])} bps of slippage per fill; Pine counts slippage in ticks,",
        "// so set it under Properties for your market if you want TradingView to model it too.",
        "//@version=6",
        f'strategy("{title}", overlay=true, process_orders_on_close=false, calc_on_every_tick=false, '
        f"initial_capital={_number(merged['initial_capital'])}, commission_type=strategy.commission.percent, "
        f"commission_value={_number(float(merged['fee_rate']) * 100)}, slippage=0, "
        f"default_qty_type=strategy.percent_of_equity, default_qty_value={_number(size_pct * leverage)}, "
        f"margin_long={_number(100 / leverage)}, margin_short={_number(100 / leverage)})",
        "",
        *(_input(spec, clean[spec.name]) for spec in strategy.params),
        f'direction = input.string("{merged["direction"]}", "Direction", options=["long", "short", "both"])',
        f'stopLossPct = input.float({_number(merged["stop_loss_pct"])}, "Stop loss (%, 0 = none)", minval=0)',
        f'takeProfitPct = input.float({_number(merged["take_profit_pct"])}, "Take profit (%, 0 = none)", minval=0)',
        f"alertMessage = '{alert}'",
        BODIES[strategy.slug].strip("\n"),
        TRADING.rstrip("\n"),
        "",
    ]
    return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def pine_filename(strategy: Strategy, params: Mapping[str, Any]) -> str:
    values = "-".join(_number(v) if isinstance(v, float) else str(v) for v in params.values())
    return f"trendy-{strategy.slug}-{values}.pine"
