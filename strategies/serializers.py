from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

from strategies.labels import param_label, strategy_name
from strategies.models import SETTINGS_FIELDS, BacktestRun
from strategies.optimise import METRICS
from trading_site.api import MarketDateTimeField, StrictCharField


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
    # A built-in's slug or one of the user's Pine script versions (pine-<hex>); the service checks which.
    strategy = serializers.CharField(max_length=64)
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
    trailing_stop_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=Decimal("0.1"), max_value=50, allow_null=True, default=None
    )
    trailing_activation_pct = serializers.DecimalField(
        max_digits=6, decimal_places=2, min_value=0, max_value=500, default=Decimal("0")
    )
    pyramiding = serializers.IntegerField(min_value=1, max_value=10, default=1)
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
            "levels_by_bar",
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


class PineSourceSerializer(serializers.Serializer):
    source = StrictCharField(allow_blank=True, trim_whitespace=False, max_length=2 * 1024 * 1024)


class PineScriptCreateSerializer(PineSourceSerializer):
    name = StrictCharField(max_length=100, required=False, default="", allow_blank=True)


class PineProblemSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="1-based; 0 when the whole script is concerned")
    column = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField(help_text="in the request's language")
    template = serializers.CharField(help_text="the English sentence with %(name)s placeholders")
    params = serializers.DictField()


class PineReportSerializer(serializers.Serializer):
    can_run = serializers.BooleanField()
    version = serializers.IntegerField(allow_null=True)
    declaration = serializers.CharField(allow_null=True)
    title = serializers.CharField(allow_blank=True)
    settings = serializers.DictField()
    inputs = serializers.ListField(child=serializers.DictField())
    errors = PineProblemSerializer(many=True)
    ignored = PineProblemSerializer(many=True)


class PineVersionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    strategy = serializers.CharField(help_text="the slug for the strategy, backtest and bot endpoints")
    number = serializers.IntegerField()
    pine_version = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class PineVersionCreatedSerializer(PineVersionSerializer):
    script = serializers.UUIDField()
    report = PineReportSerializer()


class PineLatestSerializer(PineVersionSerializer):
    source = serializers.CharField()
    report = PineReportSerializer()


class PineScriptSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    versions = PineVersionSerializer(many=True)
    latest = PineLatestSerializer(required=False, help_text="the newest version with its text (one script's page)")


def pine_version_payload(version: Any) -> dict[str, Any]:
    return {
        "id": str(version.id),
        "strategy": version.slug,
        "number": version.number,
        "pine_version": version.pine_version,
        "created_at": version.created_at,
    }


def pine_script_payload(script: Any, versions: list[Any], *, source: bool = False) -> dict[str, Any]:
    """A user's script: its versions (newest first); with ``source``, the latest one's text and report."""
    found: dict[str, Any] = {
        "id": str(script.id),
        "name": script.name,
        "created_at": script.created_at,
        "versions": [pine_version_payload(v) for v in versions],
    }
    if source and versions:
        from strategies.pine_services import report_payload

        found["latest"] = {**pine_version_payload(versions[0]), "source": versions[0].source}
        found["latest"]["report"] = report_payload(versions[0].report)
    return found
