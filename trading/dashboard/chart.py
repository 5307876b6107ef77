"""The dashboard's market chart and the six strategies' view of it: the markets a trader can chart, the candles
up to the market clock, the trader's fills as markers, and each strategy's verdict on the last closed candle."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from market_data.selectors import load_candles, series_list
from market_data.timeframes import TIMEFRAME_MS
from strategies.builtin import REGISTRY
from strategies.labels import strategy_name
from trading import clock, labels
from trading.bots import engine
from trading.models import Bot, Trade

logger = logging.getLogger(__name__)

CHART_BARS = 300

# --- the market on the chart ------------------------------------------------------------------------


@dataclass(frozen=True)
class MarketChoice:
    exchange: str
    symbol: str
    timeframe: str
    bot: Bot | None = None

    @property
    def key(self) -> str:
        return f"{self.exchange}|{self.symbol}|{self.timeframe}"

    @property
    def exchange_name(self) -> str:
        return {"binance": "Binance", "okx": "OKX"}.get(self.exchange, self.exchange.capitalize())


def _series() -> list[Any]:
    """Stored series change when candles are imported: a minute-old list is fine for a menu."""
    return cache.get_or_set("trading:dashboard:series", series_list, 60)


def markets(*, user: Any) -> list[MarketChoice]:
    """The user's running bots' markets first, then every stored series."""
    choices: list[MarketChoice] = []
    seen = set()
    for bot in Bot.objects.filter(user=user).select_related("exchange_account").order_by("status", "-created_at")[:20]:
        choice = MarketChoice(
            clock.data_exchange(bot.exchange_account.exchange), clock.data_symbol(bot.symbol), bot.timeframe, bot
        )
        if choice.key not in seen:
            seen.add(choice.key)
            choices.append(choice)
    for series in _series():
        choice = MarketChoice(series.exchange, series.symbol, series.timeframe)
        if choice.key not in seen:
            seen.add(choice.key)
            choices.append(choice)
    return choices


def choose(*, user: Any, key: str | None, options: list[MarketChoice] | None = None) -> MarketChoice | None:
    options = markets(user=user) if options is None else options
    for option in options:
        if option.key == key:
            return option
    preferred = next((o for o in options if o.bot is not None), None)
    return (
        preferred
        or next((o for o in options if o.symbol == "BTC/USDT" and o.timeframe == "1h"), None)
        or (options[0] if options else None)
    )


def _candles(choice: MarketChoice, bars: int) -> pd.DataFrame:
    end = clock.now()
    step = timedelta(milliseconds=TIMEFRAME_MS[choice.timeframe])
    # Only closed candles: the one that opened a full step before now is the last.
    return load_candles(
        choice.exchange, choice.symbol, choice.timeframe, None, end - step + timedelta(seconds=1), limit=bars
    )


def local_seconds(times: pd.DatetimeIndex | pd.Series) -> list[int]:
    index = pd.DatetimeIndex(times)
    local = index.tz_convert(timezone.get_current_timezone()).tz_localize(None)
    return ((local - pd.Timestamp(0)) // pd.Timedelta(1, "s")).tolist()


def chart(*, user: Any, choice: MarketChoice, chart_data: Callable[[pd.DataFrame], dict[str, Any]]) -> dict[str, Any]:
    candles = _candles(choice, CHART_BARS)
    payload: dict[str, Any] = {
        "candles": chart_data(candles),
        "markers": [],
        "fills": {},
        "overlays": [],
        "label": choice.symbol,
    }
    if not len(candles):
        return payload
    start = candles.index[0].to_pydatetime()
    step = timedelta(milliseconds=TIMEFRAME_MS[choice.timeframe])
    fills = list(
        Trade.objects.filter(user=user, symbol__startswith=choice.symbol, time__gte=start)
        .select_related("order")
        .order_by("time", "id")[:500]
    )
    if fills:
        payload["markers"], payload["fills"] = _markers(fills, step)
    if choice.bot is not None and choice.bot.strategy in REGISTRY:
        strategy = REGISTRY[choice.bot.strategy]
        params = strategy.validate(choice.bot.params)
        times = local_seconds(candles.index)
        for name, series in strategy.overlays(candles, params).items():
            points = [
                {"time": int(t), "value": float(v)}
                for t, v in zip(times, series.to_numpy(), strict=True)
                if pd.notna(v)
            ]
            payload["overlays"].append({"name": name, "points": points})
    return payload


def _fill_text(fill: Trade) -> str:
    text = labels.fill_sentence(
        purpose=fill.order.purpose, side_=fill.side, amount=fill.amount, symbol=fill.symbol, price=fill.price
    )
    if fill.realized_pnl:
        text += " · " + _("PnL %(pnl)s") % {"pnl": labels.pnl_text(fill.realized_pnl, fill.symbol)}
    return text


def _markers(fills: list[Trade], step: timedelta) -> tuple[list[dict[str, Any]], dict[int, list[str]]]:
    """One marker per candle that had fills (an exit and the next entry, a stop and a re-entry: one marker,
    not two on top of each other), and for the tooltip the sentence of each fill, by candle time."""
    by_bar: dict[int, list[Trade]] = {}
    opens = [t.time - (pd.Timestamp(t.time) - pd.Timestamp(0, tz="UTC")) % step for t in fills]
    for second, fill in zip(local_seconds(pd.DatetimeIndex(opens)), fills, strict=True):
        by_bar.setdefault(int(second), []).append(fill)
    markers, texts = [], {}
    for second, group in by_bar.items():
        sides = {fill.side for fill in group}
        buy = sides == {"buy"}
        sell = sides == {"sell"}
        if len(group) == 1:
            label = labels.side(group[0].side)  # the price and the rest: in the tooltip
        else:
            label = ngettext("%(n)d fill", "%(n)d fills", len(group)) % {"n": len(group)}
        markers.append(
            {
                "time": second,
                "position": "belowBar" if buy else "aboveBar",
                "shape": "arrowUp" if buy else "arrowDown" if sell else "circle",
                "color": "#16a34a" if buy else "#dc2626" if sell else "#7c3aed",
                "text": label,
            }
        )
        texts[second] = [_fill_text(fill) for fill in group]
    return markers, texts


# --- the six strategies' view -----------------------------------------------------------------------


@dataclass
class StrategyView:
    slug: str
    stance: str  # long / short / flat: what it would hold now
    fresh: str  # the signal on the last closed candle: long_entry, short_entry, exit, or ""

    @property
    def name(self) -> str:  # in the reader's language (the analysis is cached for every reader)
        return strategy_name(self.slug)


@dataclass
class Analysis:
    candle_open: datetime | None
    views: list[StrategyView] = field(default_factory=list)
    longs: int = 0
    shorts: int = 0

    @property
    def vote(self) -> str:
        if self.longs > self.shorts:
            return "long"
        if self.shorts > self.longs:
            return "short"
        return "flat"

    @property
    def confidence_pct(self) -> int:
        total = len(self.views) or 1
        return (
            round(100 * max(self.longs, self.shorts) / total)
            if self.vote != "flat"
            else round(100 * (total - self.longs - self.shorts) / total)
        )

    # The analytics issue adds panels here (regime, sentiment, forecast): each a (title, template, context).
    extra_panels: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


# Panels other apps add under the vote (the analytics app adds its AI signal): each provider gets the market and
# returns (title, template, context) or None. Registered in an AppConfig.ready(), so trading imports none of them.
PanelProvider = Callable[[MarketChoice], "tuple[str, str, dict[str, Any]] | None"]
_panel_providers: list[PanelProvider] = []


def panel_register(provider: PanelProvider) -> None:
    if provider not in _panel_providers:
        _panel_providers.append(provider)


def _panels(choice: MarketChoice) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for provider in _panel_providers:
        try:
            panel = provider(choice)
        except Exception:  # a panel never takes the dashboard down; the provider logs its own failure
            logger.exception("dashboard panel %r failed", provider)
            continue
        if panel is not None:
            found.append(panel)
    return found


def analysis(*, choice: MarketChoice) -> Analysis:
    """Each built-in strategy (default parameters) on the market's last closed candle, and their vote (cached
    until the next candle closes), with the panels other apps add."""
    result = _vote(choice)
    return replace(result, extra_panels=_panels(choice)) if _panel_providers else result


def _vote(choice: MarketChoice) -> Analysis:
    candles = _candles(choice, max(s.lookback(s.defaults()) for s in REGISTRY.values()))
    if not len(candles):
        return Analysis(None)
    last = candles.index[-1].to_pydatetime()
    key = f"trading:analysis:{choice.key}:{last.isoformat()}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    result = Analysis(last)
    for strategy in REGISTRY.values():
        params = strategy.defaults()
        window = candles.iloc[-strategy.lookback(params) :]
        if len(window) <= strategy.warmup(params):
            result.views.append(StrategyView(strategy.slug, "flat", ""))
            continue
        frame = strategy.signals(window, params)
        held: str | None = None
        for row in frame.itertuples(index=False):
            decision = engine.decide(row._asdict(), held=held, direction="both")
            if decision.exit:
                held = None
            if decision.entry and held is None:
                held = decision.entry
        last_row = frame.iloc[-1]
        fresh = next((name for name in ("long_entry", "short_entry") if bool(last_row[name])), "")
        if not fresh and (bool(last_row["long_exit"]) or bool(last_row["short_exit"])):
            fresh = "exit"
        result.views.append(StrategyView(strategy.slug, held or "flat", fresh))
    result.longs = sum(v.stance == "long" for v in result.views)
    result.shorts = sum(v.stance == "short" for v in result.views)
    cache.set(key, result, TIMEFRAME_MS[choice.timeframe] // 1000)
    return result
