"""``GET /api/v1/dashboard/stats``: the dashboard's figures for the mobile app (the seed's ``fetchDashboardStats``),
from the same selector the dashboard page draws — balances per account, total and today's PnL (today from midnight
in the user's time zone, on the market clock), win rate, drawdown below the accounts' peak, and counts."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from trading.dashboard import selectors
from trading.models import Bot

MONEY = {"max_digits": 28, "decimal_places": 8}


class AccountBalanceSerializer(serializers.Serializer):
    account_id = serializers.IntegerField(source="account.pk")
    label = serializers.CharField(source="account.label")
    exchange = serializers.CharField(source="account.exchange")
    total = serializers.DecimalField(**MONEY, allow_null=True)
    available = serializers.DecimalField(**MONEY, allow_null=True)
    as_of = serializers.DateTimeField(
        allow_null=True, help_text="When the exchange's balance was last read; null: live (the paper books)."
    )


class DashboardStatsSerializer(serializers.Serializer):
    balances = AccountBalanceSerializer(many=True)
    total_balance = serializers.DecimalField(**MONEY)
    available_balance = serializers.DecimalField(**MONEY)
    total_pnl = serializers.DecimalField(**MONEY)
    realized_pnl = serializers.DecimalField(**MONEY)
    unrealized_pnl = serializers.DecimalField(**MONEY)
    today_pnl = serializers.DecimalField(**MONEY)
    today_from = serializers.DateTimeField(source="day_start", allow_null=True)
    win_rate_pct = serializers.DecimalField(max_digits=7, decimal_places=2, allow_null=True)
    closed_trades = serializers.IntegerField()
    wins = serializers.IntegerField()
    open_positions = serializers.IntegerField()
    drawdown_pct = serializers.DecimalField(max_digits=7, decimal_places=2, allow_null=True)
    running_bots = serializers.IntegerField()
    bots = serializers.IntegerField()
    auto_trading = serializers.BooleanField()


class DashboardStatsApi(APIView):
    @extend_schema(responses={200: DashboardStatsSerializer}, operation_id="dashboard_stats")
    def get(self, request: Request) -> Response:
        stats = selectors.stats(user=request.user)
        bots = Bot.objects.filter(user=request.user)
        payload: dict[str, Any] = {
            "balances": stats.balances,
            "total_balance": stats.total_balance,
            "available_balance": stats.available_balance,
            "total_pnl": stats.total_pnl,
            "realized_pnl": stats.realized_pnl,
            "unrealized_pnl": stats.unrealized_pnl,
            "today_pnl": stats.today_pnl,
            "day_start": stats.day_start,
            "win_rate_pct": stats.win_rate_pct,
            "closed_trades": stats.closed_trades,
            "wins": stats.wins,
            "open_positions": stats.open_positions,
            "drawdown_pct": stats.drawdown_pct,
            "running_bots": bots.filter(status=Bot.Status.RUNNING).count(),
            "bots": bots.count(),
            "auto_trading": request.user.auto_trading,
        }
        return Response(DashboardStatsSerializer(payload).data)
