"""What the dashboard shows, read with a bounded number of queries (aggregates, not rows): balances, PnL,
win rate, drawdown, the chart of a market with the trader's fills and the bot's indicators, the six
strategies' view of that market, the activity feed and the equity curve."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import ExchangeAccount
from market_data.views import chart_zones
from trading import clock, labels
from trading.dashboard.chart import local_seconds
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
        seconds = local_seconds(times)
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
