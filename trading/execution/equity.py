"""An account's balance and equity (with unrealised PnL), and the equity snapshots its curve is drawn from."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from accounts.models import ExchangeAccount
from trading.exchanges.base import Exchange
from trading.models import EquitySnapshot


def account_equity(exchange: Exchange, account: ExchangeAccount) -> tuple[Decimal, Decimal]:
    """(balance, equity) in USDT: the wallet balance, and with unrealised PnL of open positions."""
    balance = exchange.fetch_balance().get("USDT")
    total = balance.total if balance else Decimal(0)
    unrealized = sum((p.unrealized_pnl for p in exchange.fetch_positions()), Decimal(0))
    return total, total + unrealized


def equity_snapshot(*, account: ExchangeAccount, time: datetime, exchange: Exchange | None = None) -> None:
    """Balance and equity (with unrealised PnL) at ``time``: one row per account and time."""
    if exchange is None:
        from trading.execution.adapters import adapter_for

        exchange = adapter_for(account)
    balance, equity = account_equity(exchange, account)
    EquitySnapshot.objects.bulk_create(
        [EquitySnapshot(exchange_account=account, time=time, balance=balance, equity=max(equity, Decimal(0)))],
        update_conflicts=True,
        unique_fields=["exchange_account", "time"],
        update_fields=["balance", "equity"],
    )
