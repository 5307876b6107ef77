"""Reconciliation: bring our orders and positions in line with what the exchange reports, at start-up
and every few minutes. A position closed or resized on the exchange, outside Trendy, is taken as the exchange
holds it, through an order of the exchange's own that says so; the stops and take-profits of a closed position
are cancelled. What cannot be explained halts the account's bots and says why."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import timezone

from accounts.models import ExchangeAccount
from market_data.selectors import ms_to_datetime, to_ms
from trading import clock
from trading.bots import services as bot_services
from trading.exchanges.base import Exchange
from trading.exchanges.errors import AuthenticationError, CredentialsUnusable, ExchangeError, OrderNotFound
from trading.execution import fills as fill_services
from trading.execution import orders as order_services
from trading.execution import records as order_records
from trading.execution import router
from trading.execution.adapters import exchange_session
from trading.models import Bot, Order, Position
from trading.reconciliation import diff as reconcile
from trading_site import metrics

log = logging.getLogger(__name__)

OUTSIDE_NOTE = "changed on the exchange, outside Trendy"


@dataclass
class AccountReport:
    account_id: int
    updated: int = 0
    missing: int = 0
    changed: list[str] = field(default_factory=list)  # positions taken as the exchange holds them
    canceled: int = 0  # stops and take-profits of closed positions
    unexplained: list[str] = field(default_factory=list)
    error: str = ""


def reconcile_account(*, account: ExchangeAccount) -> AccountReport:
    report = AccountReport(account.pk)
    ours = list(Order.objects.filter(exchange_account=account, status__in=Order.OPEN_STATUSES))
    try:
        with exchange_session(account) as exchange:
            theirs = {}
            for order in ours:
                try:
                    theirs[order.client_order_id] = exchange.fetch_order(
                        order.symbol, client_order_id=order.client_order_id
                    )
                except OrderNotFound:
                    theirs[order.client_order_id] = None
            refs = [reconcile.OurOrder(o.client_order_id, o.symbol, o.status, o.filled) for o in ours]
            for fix in reconcile.diff_orders(refs, theirs):
                order = next(o for o in ours if o.client_order_id == fix.client_order_id)
                if fix.kind == "order_missing":
                    Order.objects.filter(pk=order.pk).update(status=Order.Status.REJECTED, note=fix.detail)
                    order_records.order_event(order, "reconciled", fix.detail)
                    report.missing += 1
                elif fix.state is not None:
                    order_records.order_state_update(order, fix.state)
                    order_records.order_event(order, "reconciled", f"exchange says {fix.state.status}")
                    if (
                        fix.state.status == "closed"
                        and fix.state.filled > 0
                        and not order.trades.exists()
                        and not account.is_paper
                    ):
                        fill_services.fill_record(
                            order=order,
                            price=fix.state.average or order.price,
                            amount=fix.state.filled,
                            fee=fix.state.fee,
                            time=ms_to_datetime(fix.state.updated_ms) if fix.state.updated_ms else clock.now(),
                            reason="market",
                        )
                    report.updated += 1
            if exchange.capabilities.positions:
                held = {
                    p.symbol: p for p in Position.objects.filter(exchange_account=account, status=Position.Status.OPEN)
                }
                positions = [reconcile.OurPosition(p.symbol, p.side, p.amount) for p in held.values()]
                for fix in reconcile.diff_positions(positions, exchange.fetch_positions()):
                    if fix.kind == "position_changed" and fix.held is not None and fix.symbol in held:
                        _changed_outside(exchange, held[fix.symbol], fix.held, fix.detail)
                        report.changed.append(f"{fix.symbol}: {fix.detail}")
                    else:
                        report.unexplained.append(f"{fix.symbol}: {fix.detail}")
            report.canceled = _cancel_stale_protection(exchange, account)
    except ExchangeError as exc:
        report.error = exc.message
        if isinstance(exc, AuthenticationError) and not account.is_paper:  # the keys stopped working: say so
            from trading.exchange_accounts.connection import account_keys_failing
            from trading_site.redact import redact

            code = "keys_unusable" if isinstance(exc, CredentialsUnusable) else "keys_rejected"
            account_keys_failing(account=account, code=code, reason=redact(exc.message)[:200])
        return _counted(account, report)
    if report.unexplained:
        detail = "; ".join(report.unexplained)
        for bot in Bot.objects.filter(exchange_account=account, status=Bot.Status.RUNNING):
            bot_services.bot_set_status(
                bot=bot,
                status=Bot.Status.HALTED,
                reason=detail,
                reason_code="reconciliation",
                reason_data={"detail": ", ".join(sorted({line.split(":", 1)[0] for line in report.unexplained}))},
            )
        log.warning("reconciliation halted bots", extra={"account_id": account.pk, "detail": report.unexplained})
    return _counted(account, report)


def _counted(account: ExchangeAccount, report: AccountReport) -> AccountReport:
    """The report on /metrics: the run's outcome, and each kind of difference found."""
    metrics.RECONCILIATION_RUNS.labels("error" if report.error else "ok").inc()
    for kind, count in (
        ("order_missing", report.missing),
        ("order_updated", report.updated),
        ("position_changed", len(report.changed)),
        ("position_unexplained", len(report.unexplained)),
    ):
        if count:
            metrics.RECONCILIATION_MISMATCHES.labels(account.exchange, kind).inc(count)
    return report


def _changed_outside(exchange: Exchange, position: Position, held: Any, detail: str) -> None:
    """The exchange holds ``held`` (same side; 0: nothing) where we hold ``position.amount``: the difference is
    recorded as the exchange's own order at the current price (its note and the position's exit reason tell the
    user), so the position, its realised PnL and the history agree with the exchange."""
    price = exchange.fetch_ticker(position.symbol).last
    change = position.amount - held  # > 0: reduced or closed; < 0: grown
    long = position.side == Position.Side.LONG
    order = Order.objects.create(
        user_id=position.user_id,
        exchange_account=position.exchange_account,
        bot=position.bot,
        position=position,
        symbol=position.symbol,
        side=("sell" if long else "buy") if change > 0 else ("buy" if long else "sell"),
        type="market",
        purpose=Order.Purpose.EXIT if change > 0 else Order.Purpose.ENTRY,
        source=Order.Source.SYSTEM,
        amount=abs(change),
        reduce_only=change > 0,
        client_order_id=router.client_order_id(f"position:{position.pk}", to_ms(timezone.now()), "outside"),
        status=Order.Status.FILLED,
        filled=abs(change),
        average_price=price,
        note=OUTSIDE_NOTE,
        created_at=clock.now(),
    )
    order_records.order_event(order, "outside", detail)
    fill_services.fill_record(
        order=order, price=price, amount=abs(change), fee=Decimal(0), time=clock.now(), reason="outside"
    )
    Position.objects.filter(pk=position.pk, status=Position.Status.CLOSED).update(exit_reason="outside")
    order_records.notify(position.user, "position_changed_outside", position=position.pk, detail=detail)


def _cancel_stale_protection(exchange: Exchange, account: ExchangeAccount) -> int:
    """Stops and take-profits still resting for a position that is closed (by an exit, or on the exchange):
    cancelled, so that they never act on the next position. One that cannot be cancelled now waits for the next
    reconciliation."""
    canceled = 0
    stale = Order.objects.filter(
        exchange_account=account,
        status=Order.Status.OPEN,
        purpose__in=[Order.Purpose.STOP_LOSS, Order.Purpose.TAKE_PROFIT],
        position__status=Position.Status.CLOSED,
    )
    for order in stale:
        try:
            order_services.order_cancel(order=order, exchange=exchange)
        except ExchangeError as exc:
            log.warning("stale stop not cancelled", extra={"order_id": order.pk, "error": exc.message})
            continue
        canceled += 1
    return canceled


def reconcile_all() -> dict[str, Any]:
    accounts = (
        ExchangeAccount.objects.filter(enabled=True)
        .filter(
            Q(orders__status__in=Order.OPEN_STATUSES)
            | Q(positions__status=Position.Status.OPEN)
            | Q(bots__status=Bot.Status.RUNNING)
        )
        .distinct()
    )
    reports = [reconcile_account(account=account) for account in accounts]
    return {
        "accounts": len(reports),
        "updated": sum(r.updated for r in reports),
        "missing": sum(r.missing for r in reports),
        "changed": sum(len(r.changed) for r in reports),
        "canceled": sum(r.canceled for r in reports),
        "unexplained": sum(len(r.unexplained) for r in reports),
        "errors": [r.error for r in reports if r.error][:10],
    }
