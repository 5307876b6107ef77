from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

from strategies.builtin import REGISTRY
from strategies.labels import param_label, strategy_name
from strategies.models import SETTINGS_FIELDS, BacktestRun
from strategies.optimise import METRICS
from trading_site.api import MarketDateTimeField


def strategy_payload(strategy: Any) -> dict[str, Any]:
    return {
        "slug": strategy.slug,
        "name": strategy_name(strategy),
        "description": _(strategy.description),
        "params": [{**spec.as_dict(), "label": param_label(strategy, spec.name)} for spec in strategy.params],
        "defaults": strategy.defaults(),
    }


class StrategySerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    params = serializers.ListField(child=serializers.DictField())
    defaults = serializers.DictField()


class BacktestCreateSerializer(serializers.ModelSerializer):
    strategy = serializers.ChoiceField(choices=sorted(REGISTRY))
    params = serializers.DictField(required=False, default=dict)
    exchange = serializers.CharField(max_length=32, default="binance")
    start = MarketDateTimeField(required=False, allow_null=True, default=None)
    end = MarketDateTimeField(required=False, allow_null=True, default=None)
    initial_capital = serializers.DecimalField(max_digits=20, decimal_places=2, min_value=10, default=Decimal("10000"))
    fee_rate = serializers.DecimalField(
        max_digits=7, decimal_places=6, min_value=0, max_value=Decimal("0.05"), default=Decimal("0.001")
    )
    slippage_bps = serializers.DecimalField(
        max_digits=7, decimal_places=2, min_value=0, max_value=500, default=Decimal("5")
    )
    leverage = serializers.IntegerField(min_value=1, max_value=10, default=1)
    position_size_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=5, max_value=20, default=Decimal("10")
    )
    stop_loss_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=Decimal("0.1"), max_value=50, allow_null=True, default=Decimal("2")
    )
    take_profit_pct = serializers.DecimalField(
        max_digits=6, decimal_places=2, min_value=Decimal("0.1"), max_value=500, allow_null=True, default=Decimal("4")
    )
    direction = serializers.ChoiceField(choices=BacktestRun.Direction.choices, default="long")

    class Meta:
        model = BacktestRun
        fields = ["strategy", "params", "exchange", "symbol", "timeframe", "start", "end", *SETTINGS_FIELDS]


class SearchSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=["random", "grid"], default="random")
    metric = serializers.ChoiceField(choices=list(METRICS), default="sharpe")
    samples = serializers.IntegerField(min_value=1, max_value=500, default=40)
    points = serializers.IntegerField(min_value=2, max_value=10, default=5)
    folds = serializers.IntegerField(min_value=1, max_value=6, default=3)
    seed = serializers.IntegerField(min_value=0, default=7)


class OptimisationCreateSerializer(BacktestCreateSerializer):
    search = SearchSerializer(required=False)

    class Meta(BacktestCreateSerializer.Meta):
        fields = [*BacktestCreateSerializer.Meta.fields, "search"]


class BacktestRunSerializer(serializers.ModelSerializer):
    trades = serializers.SerializerMethodField()
    equity = serializers.SerializerMethodField()
    buy_hold = serializers.SerializerMethodField()
    gaps = serializers.SerializerMethodField()
    optimisation = serializers.SerializerMethodField()

    class Meta:
        model = BacktestRun
        fields = [
            "id",
            "kind",
            "status",
            "progress",
            "error",
            "strategy",
            "params",
            "exchange",
            "symbol",
            "timeframe",
            "start",
            "end",
            *SETTINGS_FIELDS,
            "search",
            "metrics",
            "trades",
            "equity",
            "buy_hold",
            "gaps",
            "optimisation",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_trades(self, run: BacktestRun) -> list[dict[str, Any]]:
        return run.result.get("trades", [])

    def get_equity(self, run: BacktestRun) -> list[list[Any]]:
        return run.result.get("equity", [])

    def get_buy_hold(self, run: BacktestRun) -> list[list[Any]]:
        return run.result.get("buy_hold", [])

    def get_gaps(self, run: BacktestRun) -> list[dict[str, Any]]:
        return run.result.get("gaps", [])

    def get_optimisation(self, run: BacktestRun) -> dict[str, Any] | None:
        return run.result if run.kind == BacktestRun.Kind.OPTIMISATION else None


class BacktestRunListSerializer(serializers.ModelSerializer):
    class Meta:
        model = BacktestRun
        fields = [
            "id",
            "kind",
            "status",
            "progress",
            "strategy",
            "params",
            "exchange",
            "symbol",
            "timeframe",
            "start",
            "end",
            "metrics",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields
