"""The paper exchange's own books: a wallet per paper account, its resting orders and its positions."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import ExchangeAccount
from trading.models.fields import money


class PaperWallet(models.Model):
    """The paper exchange's side of a paper account: its USDT balance. Orders and positions are in
    ``PaperOrder`` / ``PaperPosition``: the "exchange" that reconciliation compares our records to."""

    account = models.OneToOneField(
        ExchangeAccount, on_delete=models.CASCADE, related_name="paper_wallet", verbose_name=_("exchange account")
    )
    balance = money(_("balance"))
    next_order_seq = models.PositiveBigIntegerField(_("next order number"), default=1)
    leverage = models.JSONField(_("leverage by market"), default=dict, blank=True)  # symbol → leverage set
    fee_rate = models.DecimalField(_("fee rate"), max_digits=7, decimal_places=6, default=Decimal("0.001"))
    slippage_bps = models.DecimalField(_("slippage (bps)"), max_digits=8, decimal_places=2, default=Decimal(5))
    # Amounts and prices unrounded (the backtest's arithmetic): for replays compared with a backtest.
    exact = models.BooleanField(_("unrounded amounts"), default=False)

    class Meta:
        verbose_name = _("paper wallet")
        verbose_name_plural = _("paper wallets")

    def __str__(self) -> str:
        return f"paper wallet of {self.account_id}: {self.balance}"


class PaperOrder(models.Model):
    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.CASCADE, related_name="paper_orders", verbose_name=_("exchange account")
    )
    exchange_order_id = models.CharField(_("exchange order id"), max_length=32)
    client_order_id = models.CharField(_("client order id"), max_length=36)
    symbol = models.CharField(_("symbol"), max_length=32)
    side = models.CharField(_("side"), max_length=4)
    type = models.CharField(_("type"), max_length=16)
    status = models.CharField(_("status"), max_length=16)
    amount = money(_("amount"))
    filled = money(_("filled"), default=Decimal(0))
    average = money(_("average price"), null=True)
    fee = money(_("fee"), default=Decimal(0))
    price = money(_("price"), null=True)
    trigger_price = money(_("trigger price"), null=True)
    reduce_only = models.BooleanField(_("reduce only"), default=False)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_ms = models.BigIntegerField(_("created at (ms)"))
    updated_ms = models.BigIntegerField(_("updated at (ms)"))

    class Meta:
        verbose_name = _("paper order")
        verbose_name_plural = _("paper orders")
        constraints = [
            models.UniqueConstraint(fields=["account", "exchange_order_id"], name="paperorder_unique_id"),
            models.UniqueConstraint(fields=["account", "client_order_id"], name="paperorder_unique_client_id"),
        ]
        indexes = [models.Index(fields=["account", "status"])]

    def __str__(self) -> str:
        return f"paper order {self.exchange_order_id} ({self.status})"


class PaperPosition(models.Model):
    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.CASCADE, related_name="paper_positions", verbose_name=_("exchange account")
    )
    symbol = models.CharField(_("symbol"), max_length=32)
    side = models.CharField(_("side"), max_length=8)
    amount = money(_("amount"))
    entry_price = money(_("entry price"))
    margin = money(_("margin"))
    entry_fee = money(_("entry fee"), default=Decimal(0))
    leverage = models.PositiveSmallIntegerField(_("leverage"), default=1)
    opened_ms = models.BigIntegerField(_("opened at (ms)"))

    class Meta:
        verbose_name = _("paper position")
        verbose_name_plural = _("paper positions")
        constraints = [models.UniqueConstraint(fields=["account", "symbol"], name="paperposition_one_per_market")]

    def __str__(self) -> str:
        return f"paper {self.side} {self.amount} {self.symbol}"
