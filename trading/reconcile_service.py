"""Reconciliation: bring our orders and positions in line with what the exchange reports, at start-up
and every few minutes. What cannot be explained halts the account's bots and says why."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from accounts.models import ExchangeAccount
from market_data.selectors import ms_to_datetime
from trading import clock, reconcile, services
from trading.adapters import exchange_session
from trading.exchanges.errors import ExchangeError, OrderNotFound
from trading.models import Bot, Order, Position

log = logging.getLogger(__name__)


@dataclass
class AccountReport:
    account_id: int
    updated: int = 0
    missing: int = 0
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
                    services._event(order, "reconciled", fix.detail)
                    report.missing += 1
                elif fix.state is not None:
                    services._state_update(order, fix.state)
                    services._event(order, "reconciled", f"exchange says {fix.state.status}")
                    if (
                        fix.state.status == "closed"
                        and fix.state.filled > 0
                        and not order.trades.exists()
                        and not account.is_paper
                    ):
                        services._fill_record(
                            order=order,
                            price=fix.state.average or order.price,
                            amount=fix.state.filled,
                            fee=fix.state.fee,
                            time=ms_to_datetime(fix.state.updated_ms) if fix.state.updated_ms else clock.now(),
                            reason="market",
                        )
                    report.updated += 1
            if exchange.capabilities.positions:
                positions = [
                    reconcile.OurPosition(p.symbol, p.side, p.amount)
                    for p in Position.objects.filter(exchange_account=account, status=Position.Status.OPEN)
                ]
                for fix in reconcile.diff_positions(positions, exchange.fetch_positions()):
                    report.unexplained.append(f"{fix.symbol}: {fix.detail}")
    except ExchangeError as exc:
        report.error = exc.message
        return report
    if report.unexplained:
        detail = "; ".join(report.unexplained)
        for bot in Bot.objects.filter(exchange_account=account, status=Bot.Status.RUNNING):
            services.bot_set_status(
                bot=bot,
                status=Bot.Status.HALTED,
                reason=detail,
                reason_code="reconciliation",
                reason_data={"detail": ", ".join(sorted({line.split(":", 1)[0] for line in report.unexplained}))},
            )
        log.warning("reconciliation halted bots", extra={"account_id": account.pk, "detail": report.unexplained})
    return report


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
        "unexplained": sum(len(r.unexplained) for r in reports),
        "errors": [r.error for r in reports if r.error][:10],
    }
