"""The analytics' inputs (shared by the API and the analytics page, which posts the same fields) and outputs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from analytics import analysis, data, montecarlo, portfolio
from market_data.exceptions import InvalidMarket
from market_data.symbols import normalize_symbol
from market_data.timeframes import TIMEFRAME_MS
from strategies.builtin import REGISTRY
from trading_site.api import StrictCharField

TIMEFRAMES = ("1h", "4h", "1d")
PERCENT = {"max_digits": 6, "decimal_places": 2}


def _percent(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(**PERCENT, **kwargs)


class PortfolioOptimizeSerializer(serializers.Serializer):
    account_id = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text=gettext_lazy("Whose exchange's candles to read.")
    )
    symbols = serializers.ListField(
        child=StrictCharField(max_length=40), min_length=1, max_length=1000, help_text="BTC/USDT or BTCUSDT"
    )
    optimization_method = serializers.ChoiceField(choices=portfolio.METHODS, default="sharpe")
    risk_tolerance = _percent(
        required=False,
        allow_null=True,
        default=None,
        min_value=Decimal("0.01"),
        max_value=100,
        help_text=gettext_lazy("The largest drawdown you accept, in % (becomes a volatility budget)."),
    )
    risk_free_rate = _percent(default=Decimal(0), min_value=-10, max_value=50, help_text="% a year")
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES, default="1d")
    lookback_days = serializers.IntegerField(min_value=30, max_value=2000, default=365)
    returns = serializers.ChoiceField(choices=portfolio.RETURN_KINDS, default="simple")
    covariance = serializers.ChoiceField(choices=portfolio.COVARIANCES, default="sample")
    min_weight = _percent(default=Decimal(0), min_value=0, max_value=100, help_text="% per market")
    max_weight = _percent(default=Decimal(100), min_value=0, max_value=100, help_text="% per market")
    weight_bounds = serializers.DictField(
        child=serializers.ListField(child=_percent(min_value=0, max_value=100), min_length=2, max_length=2),
        required=False,
        default=dict,
        help_text='{"BTC/USDT": [10, 60]}: a market\'s own minimum and maximum weight, in %',
    )
    horizon_days = serializers.IntegerField(min_value=1, max_value=analysis.MAX_HORIZON_DAYS, default=30)
    monte_carlo_method = serializers.ChoiceField(choices=montecarlo.METHODS, default="bootstrap")
    seed = serializers.IntegerField(min_value=0, max_value=2**32 - 1, default=1)

    def validate_symbols(self, value: list[str]) -> list[str]:
        if len(value) > data.MAX_SYMBOLS:
            raise serializers.ValidationError(
                _("Choose at most %(max)d markets; %(count)d were sent.")
                % {"max": data.MAX_SYMBOLS, "count": len(value)}
            )
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["min_weight"] > attrs["max_weight"]:
            raise serializers.ValidationError({"min_weight": [_("The minimum weight is above the maximum.")]})
        return attrs

    def to_request(self, exchange: str) -> analysis.PortfolioRequest:
        v = self.validated_data
        return analysis.PortfolioRequest(
            symbols=list(v["symbols"]),
            exchange=exchange,
            timeframe=v["timeframe"],
            lookback_days=v["lookback_days"],
            method=v["optimization_method"],
            risk_tolerance_pct=None if v["risk_tolerance"] is None else float(v["risk_tolerance"]),
            risk_free_pct=float(v["risk_free_rate"]),
            returns=v["returns"],
            covariance=v["covariance"],
            min_weight_pct=float(v["min_weight"]),
            max_weight_pct=float(v["max_weight"]),
            weight_bounds={
                _clean_symbol(name): (float(pair[0]), float(pair[1])) for name, pair in v["weight_bounds"].items()
            },
            horizon_days=v["horizon_days"],
            mc_method=v["monte_carlo_method"],
            seed=v["seed"],
        )


def _clean_symbol(name: str) -> str:
    try:
        return data.clean_symbols([name])[0]
    except Exception:  # noqa: BLE001 - an unknown name is reported by the analysis with the others
        return name


class KellySerializer(serializers.Serializer):
    bot_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    backtest_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    kelly_multiplier = serializers.DecimalField(
        max_digits=4, decimal_places=2, min_value=Decimal("0.05"), max_value=1, default=Decimal("0.5")
    )
    trades_ahead = serializers.IntegerField(min_value=10, max_value=1000, default=100)
    seed = serializers.IntegerField(min_value=0, max_value=2**32 - 1, default=1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs["bot_id"] is None) == (attrs["backtest_id"] is None):
            raise serializers.ValidationError({"source": [_("Send either bot_id or backtest_id.")]})
        return attrs


class AllocationSerializer(serializers.Serializer):
    bots = serializers.ListField(
        child=serializers.IntegerField(min_value=1), max_length=20, required=False, default=list
    )
    backtests = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        max_length=20,
        required=False,
        default=list,
        help_text=gettext_lazy("Candidate strategies: finished backtests of yours."),
    )
    optimization_method = serializers.ChoiceField(choices=portfolio.METHODS, default="sharpe")
    lookback_days = serializers.IntegerField(min_value=30, max_value=1000, default=180)


class AllocationApplySerializer(serializers.Serializer):
    sizes = serializers.DictField(
        child=serializers.DecimalField(max_digits=5, decimal_places=2, min_value=5, max_value=20),
        allow_empty=False,
        help_text='{"<bot id>": "12.50"}: position sizes in %',
    )

    def validate_sizes(self, value: dict[str, Decimal]) -> dict[int, Decimal]:
        try:
            return {int(key): size for key, size in value.items()}
        except ValueError:
            raise serializers.ValidationError(_("Name each bot by its id.")) from None


class _MixSerializer(serializers.Serializer):
    weights = serializers.DictField(child=serializers.FloatField())
    cash = serializers.FloatField()
    expected_return = serializers.FloatField()
    expected_risk = serializers.FloatField()
    sharpe_ratio = serializers.FloatField(allow_null=True)


class _MonteCarloSerializer(serializers.Serializer):
    var_95 = serializers.FloatField(help_text="loss at the 5th percentile of the horizon's return, as a fraction")
    var_99 = serializers.FloatField()
    expected_shortfall = serializers.FloatField(help_text="mean loss beyond VaR 95")
    expected_shortfall_99 = serializers.FloatField()
    probability_positive = serializers.FloatField()
    median_return = serializers.FloatField()
    mean_return = serializers.FloatField()
    method = serializers.CharField()
    scenarios = serializers.IntegerField()
    horizon_days = serializers.IntegerField()
    seed = serializers.IntegerField()
    block_days = serializers.IntegerField(allow_null=True)
    fan = serializers.DictField()


class PortfolioResultSerializer(serializers.Serializer):
    """Fractions, not percentages (0.25 is 25 %); returns and risk a year."""

    optimal_weights = serializers.DictField(child=serializers.FloatField())
    cash_weight = serializers.FloatField()
    expected_return = serializers.FloatField()
    expected_risk = serializers.FloatField()
    sharpe_ratio = serializers.FloatField(allow_null=True)
    method = serializers.CharField()
    risky_portfolio = _MixSerializer()
    monte_carlo = _MonteCarloSerializer()
    kelly = serializers.DictField()
    frontier = serializers.DictField()
    conventions = serializers.DictField()
    data = serializers.DictField()
    notes = serializers.ListField(child=serializers.CharField())


class SymbolField(serializers.CharField):
    """A market symbol as BTCUSDT or BTC/USDT, normalised to BTC/USDT; an unknown shape is a 400 on the field."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=32, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        try:
            return normalize_symbol(super().to_internal_value(data))
        except InvalidMarket as exc:
            raise serializers.ValidationError(str(exc)) from None


def _price() -> serializers.DecimalField:
    """An optional price above 0."""
    return serializers.DecimalField(
        max_digits=24,
        decimal_places=10,
        min_value=Decimal("0.0000000001"),
        required=False,
        allow_null=True,
        default=None,
    )


class MarketQuerySerializer(serializers.Serializer):
    """A market by symbol (BTCUSDT or BTC/USDT), on a timeframe and an exchange's stored candles."""

    symbol = SymbolField()
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAME_MS), default="1h")
    exchange = serializers.CharField(
        max_length=32,
        required=False,
        default="",
        help_text=gettext_lazy("Whose stored candles: binance, okx … (default: the paper exchange's data source)."),
    )


class SymbolQuerySerializer(serializers.Serializer):
    symbol = SymbolField()


class CommentaryQuerySerializer(MarketQuerySerializer):
    """A market, and the language of the commentary (default: the request's)."""

    lang = serializers.ChoiceField(
        choices=["en", "ko"],
        required=False,
        allow_blank=True,
        default="",
        help_text=gettext_lazy("The commentary's language: en or ko (default: the request's language)."),
    )


class PredictSerializer(serializers.Serializer):
    """A trade to predict: a market, a side, an entry (default: the last close), a stop-loss and a take-profit as
    prices or as percentages of the entry, a horizon, the position's size in money, and optionally a strategy."""

    symbol = SymbolField()
    exchange = serializers.CharField(max_length=32, required=False, default="")
    side = serializers.ChoiceField(choices=["long", "short", "buy", "sell"], default="long")
    entry_price = _price()
    stop_loss = _price()
    take_profit = _price()
    stop_loss_pct = _percent(
        min_value=Decimal("0.01"), max_value=Decimal("99"), required=False, allow_null=True, default=None
    )
    take_profit_pct = _percent(
        min_value=Decimal("0.01"), max_value=Decimal("1000"), required=False, allow_null=True, default=None
    )
    horizon_hours = serializers.IntegerField(min_value=1, max_value=24 * 30, default=72)
    position_size = serializers.DecimalField(
        max_digits=20, decimal_places=2, min_value=Decimal("0.01"), default=Decimal("1000")
    )
    strategy = serializers.ChoiceField(choices=sorted(REGISTRY), required=False, allow_null=True, default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["side"] = {"buy": "long", "sell": "short"}.get(attrs["side"], attrs["side"])
        for name in ("stop_loss", "take_profit"):
            if attrs[name] is not None and attrs[f"{name}_pct"] is not None:
                raise serializers.ValidationError({name: [_("Give the price or the percentage, not both.")]})
        if attrs["side"] == "short" and attrs["take_profit_pct"] is not None and attrs["take_profit_pct"] >= 100:
            raise serializers.ValidationError({"take_profit_pct": [_("A short's take-profit is below 100 %.")]})
        return attrs
