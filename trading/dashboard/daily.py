"""The daily summary (issue 19): once a day, each trader with activity in the last 24 hours (a trade, or a running
bot) is told their realised PnL, their trade count and the largest drawdown of their accounts over the day, in total
and per exchange account (``daily_summary``). A trader with no running bot and no trade in the day is told nothing.

Read in a bounded number of queries whatever the number of traders: one aggregate of the day's trades, one of the
running bots, one of the accounts, and one window query for the drawdowns. Times are the market clock's (the trades'
own times)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Sum

from accounts.models import ExchangeAccount
from trading import clock
from trading.execution.records import notify
from trading.models import Bot, EquitySnapshot, Trade

ZERO = Decimal(0)
DAY = timedelta(days=1)


@dataclass
class AccountDay:
    account: int
    label: str
    realized_pnl: Decimal = ZERO
    trades: int = 0
    drawdown_pct: Decimal | None = None  # the largest fall below the day's running peak of equity, in %


@dataclass
class UserDay:
    user_id: int
    start: datetime
    end: datetime
    accounts: list[AccountDay] = field(default_factory=list)

    @property
    def realized_pnl(self) -> Decimal:
        return sum((a.realized_pnl for a in self.accounts), ZERO)

    @property
    def trades(self) -> int:
        return sum(a.trades for a in self.accounts)

    @property
    def max_drawdown_pct(self) -> Decimal | None:
        known = [a.drawdown_pct for a in self.accounts if a.drawdown_pct is not None]
        return max(known) if known else None

    def event_data(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "realized_pnl": self.realized_pnl,
            "trades": self.trades,
            "max_drawdown_pct": self.max_drawdown_pct,
            "accounts": [
                {"account": a.account, "label": a.label, "realized_pnl": a.realized_pnl, "trades": a.trades,
                 "drawdown_pct": a.drawdown_pct}
                for a in self.accounts
            ],
        }  # fmt: skip


def daily_summaries(*, end: datetime) -> list[UserDay]:
    """Each active trader's day ending at ``end`` (the 24 hours before it), their accounts by label."""
    start = end - DAY
    by_account = {
        row["exchange_account_id"]: row
        for row in Trade.objects.filter(time__gte=start, time__lt=end)
        .values("exchange_account_id")
        .annotate(pnl=Sum("realized_pnl"), n=Count("id"))
        .order_by()
    }
    running = set(
        Bot.objects.filter(status=Bot.Status.RUNNING).values_list("exchange_account_id", flat=True).distinct()
    )
    wanted = set(by_account) | running
    if not wanted:
        return []
    drawdowns = _drawdowns(sorted(wanted), start, end)
    days: dict[int, UserDay] = {}
    for account in ExchangeAccount.objects.filter(pk__in=wanted).order_by("user_id", "label", "id"):
        row = by_account.get(account.pk) or {}
        day = days.setdefault(account.user_id, UserDay(account.user_id, start, end))
        day.accounts.append(
            AccountDay(account.pk, account.label, row.get("pnl") or ZERO, row.get("n") or 0, drawdowns.get(account.pk))
        )
    return list(days.values())


def _drawdowns(account_ids: list[int], start: datetime, end: datetime) -> dict[int, Decimal]:
    """Per account, the largest fall of equity below its running peak within [start, end), in % (one query)."""
    table = EquitySnapshot._meta.db_table
    sql = (  # the model's own table name; the values are parameters
        "SELECT exchange_account_id, MAX((1 - equity / peak) * 100) FROM (SELECT exchange_account_id, equity, "  # noqa: S608  # nosec B608  # the model's table; values are parameters
        "MAX(equity) OVER (PARTITION BY exchange_account_id ORDER BY time) AS peak "
        f"FROM {table} WHERE time >= %s AND time < %s AND exchange_account_id = ANY(%s)) AS s "
        "WHERE peak > 0 GROUP BY exchange_account_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, end, account_ids])
        return {account: max(Decimal(value), ZERO) for account, value in cursor.fetchall() if value is not None}


def daily_summaries_send(*, now: datetime | None = None) -> int:
    """Tell each active trader their day (``daily_summary``), once per trader and day even when the task runs twice
    (a cache key for two days). Returns how many were told."""
    end = (now or clock.now()).replace(second=0, microsecond=0)
    told = 0
    for day in daily_summaries(end=end):
        if cache.add(f"trading:daily-summary:{day.user_id}:{end.date().isoformat()}", 1, timeout=2 * 86400):
            notify(day.user_id, "daily_summary", **day.event_data())
            told += 1
    return told
