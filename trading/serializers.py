"""Output shapes of the trading API (shared by several endpoints) and the bot-create input.
Money, prices and amounts are decimal strings, never floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from trading.models import Bot, Direction, Order, Position, Trade
from trading_site.api import StrictBooleanField, StrictCharField


class MoneyField(serializers.DecimalField):
    """A stored 18-place decimal as a plain string without trailing zeros: ``"0.016"``, ``"62489.21"``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 40)
        kwargs.setdefault("decimal_places", 18)
        super().__init__(**kwargs)

    def bind(self, field_name: str, parent: Any) -> None:
        super().bind(field_name, parent)
        # null where the model's column may be null (a stop loss not set, an order without a price): the
        # schema says so too (drf-spectacular reads allow_null).
        model = getattr(getattr(parent, "Meta", None), "model", None)
        if model is not None and not self.allow_null:
            column = next((f for f in model._meta.concrete_fields if f.name == self.source), None)
            if column is not None:
                self.allow_null = column.null

    def to_representation(self, value: Any) -> str | None:
        if value is None:
            return None
        number = Decimal(value)
        text = format(number.normalize(), "f") if number else "0"
        return text


class BotSerializer(serializers.ModelSerializer):
    exchange_account_label = serializers.CharField(source="exchange_account.label", read_only=True)

    class Meta:
        model = Bot
        fields = [
            "id",
            "name",
            "exchange_account",
            "exchange_account_label",
            "strategy",
            "params",
            "symbol",
            "timeframe",
            "leverage",
            "position_size_pct",
            "stop_loss_pct",
            "take_profit_pct",
            "trailing_stop_pct",
            "trailing_activation_pct",
            "pyramiding",
            "levels_by_bar",
            "max_drawdown_pct",
            "daily_loss_limit_pct",
            "direction",
            "status",
            "status_reason",
            "last_tick_at",
            "created_at",
        ]
        read_only_fields = fields


class BotCreateSerializer(serializers.Serializer):
    """The bot's settings; the service checks them against the user's risk profile and the exchange."""

    exchange_account = serializers.IntegerField()
    # A built-in's slug or one of the user's Pine script versions (pine-<hex>); the service checks which.
    strategy = serializers.CharField(max_length=64)
    params = serializers.DictField(required=False, default=dict)
    symbol = serializers.CharField(max_length=32)
    timeframe = serializers.CharField(max_length=8)
    name = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    leverage = serializers.IntegerField(min_value=1, max_value=10, default=1)
    position_size_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=5, max_value=20, default=Decimal(10)
    )
    stop_loss_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=1, max_value=5, allow_null=True, default=Decimal(2)
    )
    take_profit_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=2, max_value=10, allow_null=True, default=Decimal(4)
    )
    trailing_stop_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=1, max_value=5, allow_null=True, default=None
    )
    trailing_activation_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=100, default=Decimal(0)
    )
    pyramiding = serializers.IntegerField(min_value=1, max_value=5, default=1)
    max_drawdown_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=5, max_value=50, default=Decimal(20)
    )
    daily_loss_limit_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=1, max_value=50, allow_null=True, default=None
    )
    direction = serializers.ChoiceField(choices=Direction.choices, default=Direction.LONG)
    start = StrictBooleanField(default=False)


class BotMoveSerializer(serializers.Serializer):
    strategy = StrictCharField(max_length=64, help_text="a version of the script the bot runs (pine-<hex>)")


class PositionSerializer(serializers.ModelSerializer):
    amount = MoneyField(read_only=True)
    entry_price = MoneyField(read_only=True)
    mark_price = MoneyField(read_only=True)
    unrealized_pnl = MoneyField(read_only=True, allow_null=True)
    margin = MoneyField(read_only=True)
    stop_loss = MoneyField(read_only=True)
    take_profit = MoneyField(read_only=True)
    liquidation_price = MoneyField(read_only=True)
    fees = MoneyField(read_only=True)
    exit_price = MoneyField(read_only=True)
    realized_pnl = MoneyField(read_only=True)

    class Meta:
        model = Position
        fields = [
            "id",
            "exchange_account",
            "bot",
            "symbol",
            "side",
            "status",
            "amount",
            "entry_price",
            "mark_price",
            "unrealized_pnl",
            "leverage",
            "margin",
            "stop_loss",
            "take_profit",
            "liquidation_price",
            "fees",
            "exit_price",
            "realized_pnl",
            "exit_reason",
            "opened_at",
            "closed_at",
        ]
        read_only_fields = fields


class OrderSerializer(serializers.ModelSerializer):
    amount = MoneyField(read_only=True)
    price = MoneyField(read_only=True)
    trigger_price = MoneyField(read_only=True)
    filled = MoneyField(read_only=True)
    average_price = MoneyField(read_only=True)
    fee = MoneyField(read_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "exchange_account",
            "bot",
            "position",
            "symbol",
            "side",
            "type",
            "purpose",
            "source",
            "status",
            "amount",
            "price",
            "trigger_price",
            "reduce_only",
            "filled",
            "average_price",
            "fee",
            "client_order_id",
            "note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class TradeSerializer(serializers.ModelSerializer):
    amount = MoneyField(read_only=True)
    price = MoneyField(read_only=True)
    fee = MoneyField(read_only=True)
    realized_pnl = MoneyField(read_only=True)

    class Meta:
        model = Trade
        fields = [
            "id",
            "exchange_account",
            "bot",
            "order",
            "position",
            "symbol",
            "side",
            "amount",
            "price",
            "fee",
            "realized_pnl",
            "time",
        ]
        read_only_fields = fields


class PositionCloseSerializer(serializers.Serializer):
    position = PositionSerializer()
    order = OrderSerializer()


class AutoTradingSerializer(serializers.Serializer):
    enabled = StrictBooleanField()
