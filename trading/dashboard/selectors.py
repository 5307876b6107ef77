"""What the dashboard shows, read with a bounded number of queries (aggregates, not rows): balances, PnL,
win rate, drawdown, the chart of a market with the trader's fills and the bot's indicators, the six
strategies' view of that market, the activity feed and the equity curve."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from django.core.cache import cache
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import ExchangeAccount
from market_data.selectors import load_candles, series_list
from market_data.timeframes import TIMEFRAME_MS
from market_data.views import chart_zones
from strategies.builtin import REGISTRY
from strategies.labels import strategy_name
from trading import clock, labels
from trading.bots import engine
from trading.models import Bot, EquitySnapshot, OrderEvent, PaperPosition, PaperWallet, Position, Trade

ZERO = Decimal(0)
CHART_BARS = 300


@dataclass
class AccountBalance:
    account: ExchangeAccount
    total: Decimal | None
    available: Decimal | None
    as_of: datetime | None  # None: live from the paper books


@dataclass
class Stats:
    balances: list[AccountBalance]
    total_balance: Decimal
    available_balance: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    today_realized: Decimal
    closed_trades: int
    wins: int
    open_positions: int
    drawdown_pct: Decimal | None
    day_start: datetime | None = None  # today's PnL counts from here (midnight in the user's zone, market time)

    @property
    def total_pnl(self) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl

    @property
    def today_pnl(self) -> Decimal:
        return self.today_realized + self.unrealized_pnl

    @property
    def win_rate_pct(self) -> Decimal | None:
        return Decimal(self.wins) * 100 / self.closed_trades if self.closed_trades else None


def stats(*, user: Any) -> Stats:
    accounts = list(ExchangeAccount.objects.filter(user=user).order_by("label", "id"))
    paper_ids = [a.pk for a in accounts if a.is_paper]
    wallets = dict(PaperWallet.objects.filter(account_id__in=paper_ids).values_list("account_id", "balance"))
    margins = dict(
        PaperPosition.objects.filter(account_id__in=paper_ids)
        .values("account_id")
        .annotate(m=Sum("margin"))
        .values_list("account_id", "m")
    )
    latest = {}
    others = [a.pk for a in accounts if not a.is_paper]
    if others:
        last_times = (
            EquitySnapshot.objects.filter(exchange_account_id__in=others)
            .values("exchange_account_id")
            .annotate(t=Max("time"))
        )
        wanted = Q()
        for row in last_times:
            wanted |= Q(exchange_account_id=row["exchange_account_id"], time=row["t"])
        if last_times:
            latest = {s.exchange_account_id: s for s in EquitySnapshot.objects.filter(wanted)}
    balances = []
    for account in accounts:
        if account.is_paper:
            total = wallets.get(account.pk, account.paper_balance)
            free = None if total is None else total - (margins.get(account.pk) or ZERO)
            balances.append(AccountBalance(account, total, free, None))
        else:
            snap = latest.get(account.pk)
            balances.append(AccountBalance(account, snap.balance if snap else None, None, snap.time if snap else None))
    positions = Position.objects.filter(user=user)
    closed = positions.filter(status=Position.Status.CLOSED).aggregate(
        n=Count("id"), wins=Count("id", filter=Q(realized_pnl__gt=0)), pnl=Sum("realized_pnl")
    )
    open_rows = list(
        positions.filter(status=Position.Status.OPEN).values_list("side", "amount", "entry_price", "mark_price")
    )
    unrealized = sum(
        ((1 if side == "long" else -1) * amount * (mark - entry) for side, amount, entry, mark in open_rows if mark),
        ZERO,
    )
    day_start = timezone.localtime(clock.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    today = Trade.objects.filter(user=user, time__gte=day_start).aggregate(pnl=Sum("realized_pnl"))["pnl"] or ZERO
    return Stats(
        balances=balances,
        total_balance=sum((b.total for b in balances if b.total is not None), ZERO),
        available_balance=sum((b.available if b.available is not None else (b.total or ZERO) for b in balances), ZERO),
        realized_pnl=closed["pnl"] or ZERO,
        unrealized_pnl=unrealized,
        today_realized=today,
        closed_trades=closed["n"],
        wins=closed["wins"],
        open_positions=len(open_rows),
        drawdown_pct=_drawdown(accounts),
        day_start=day_start,
    )


def _drawdown(accounts: list[ExchangeAccount]) -> Decimal | None:
    """Below the peak now: 1 − (the accounts' latest equity) / (their peak equity), in %."""
    if not accounts:
        return None
    rows = (
        EquitySnapshot.objects.filter(exchange_account__in=accounts)
        .values("exchange_account_id")
        .annotate(peak=Max("equity"), last=Max("time"))
    )
    peaks, lasts = ZERO, ZERO
    for row in rows:
        equity = (
            EquitySnapshot.objects.filter(exchange_account_id=row["exchange_account_id"], time=row["last"])
            .values_list("equity", flat=True)
            .first()
        )
        peaks += row["peak"] or ZERO
        lasts += equity or ZERO
    if peaks <= 0:
        return None
    return max((1 - lasts / peaks) * 100, ZERO)


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


def _local_seconds(times: pd.DatetimeIndex | pd.Series) -> list[int]:
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
        times = _local_seconds(candles.index)
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
    for second, fill in zip(_local_seconds(pd.DatetimeIndex(opens)), fills, strict=True):
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


def analysis(*, choice: MarketChoice) -> Analysis:
    """Each built-in strategy (default parameters) on the market's last closed candle, and their vote.
    Cached until the next candle closes."""
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


# --- activity and equity ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    time: datetime  # market time (the clock in use)
    kind: str  # fill, rejected, canceled, alert, halt
    text: str  # a sentence in the reader's language
    ok: bool = True
    detail: str = ""  # the exchange's or receiver's own words, shown as they came


FEED_EVENTS = ("filled", "rejected", "canceled")
# Apps that depend on trading add their events to the feed here (``webhooks.apps``): trading never imports them.
ACTIVITY_SOURCES: list[Callable[[Any, int], list[Activity]]] = []


def activity(*, user: Any, limit: int = 20) -> list[Activity]:
    items: list[Activity] = []
    events = (
        OrderEvent.objects.filter(order__user=user, kind__in=FEED_EVENTS)
        .select_related("order")
        .order_by("-time", "-id")[:limit]
    )
    for event in events:
        order = event.order
        if event.kind == "filled":
            text = labels.fill_sentence(
                purpose=order.purpose,
                side_=order.side,
                amount=event.data.get("amount") or order.amount,
                symbol=order.symbol,
                price=event.data.get("price"),
            )
            items.append(Activity(event.time, "fill", text))
        else:
            text = labels.order_sentence(
                kind=event.kind, purpose_label=order.get_purpose_display(), symbol=order.symbol
            )
            items.append(Activity(event.time, event.kind, text, ok=event.kind != "rejected", detail=event.message))
    for source in ACTIVITY_SOURCES:  # other apps' events (TradingView alerts), registered by those apps
        items.extend(source(user, limit))
    for bot in Bot.objects.filter(user=user, status=Bot.Status.HALTED).order_by("-updated_at")[:limit]:
        text = _("Bot “%(name)s” halted: %(reason)s") % {"name": bot.name, "reason": bot.reason_text}
        items.append(Activity(bot.status_changed_at or bot.updated_at, "halt", text, ok=False))
    items.sort(key=lambda item: item.time, reverse=True)
    return items[:limit]


def equity_curve(*, user: Any, points: int = 400) -> list[dict[str, Any]]:
    """Per account: its equity snapshots, the last ``points`` × 4 thinned to about ``points``."""
    lines = []
    for account in ExchangeAccount.objects.filter(user=user).order_by("label", "id")[:5]:
        rows = list(
            EquitySnapshot.objects.filter(exchange_account=account)
            .order_by("-time")
            .values_list("time", "equity")[: points * 4]
        )
        if not rows:
            continue
        rows.reverse()
        step = max(1, len(rows) // points)
        picked = rows[::step]
        if picked[-1] != rows[-1]:
            picked.append(rows[-1])
        times = pd.DatetimeIndex([t for t, _e in picked])
        seconds = _local_seconds(times)
        lines.append(
            {
                "name": account.label,
                "zones": chart_zones(times),
                "points": [{"time": int(s), "value": float(e)} for s, (_t, e) in zip(seconds, picked, strict=True)],
            }
        )
    return lines


# Apps that guide a trader (the onboarding) offer a way back here: each gives (url, text) or None.
RESUME_SOURCES: list[Callable[[Any], tuple[str, str] | None]] = []


def resume_links(*, user: Any) -> list[tuple[str, str]]:
    return [found for source in RESUME_SOURCES if (found := source(user))]


def has_started(*, user: Any) -> bool:
    return ExchangeAccount.objects.filter(user=user).exists() or Bot.objects.filter(user=user).exists()
