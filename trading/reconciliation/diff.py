"""Reconciliation's pure part: compare our open orders and positions with what the exchange reports
and list the corrections (no Django)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from trading.exchanges.base import OrderState, PositionState


@dataclass(frozen=True)
class OurOrder:
    client_order_id: str
    symbol: str
    status: str  # pending / open
    filled: Decimal


@dataclass(frozen=True)
class OurPosition:
    symbol: str
    side: str
    amount: Decimal


@dataclass(frozen=True)
class Correction:
    kind: str  # order_update, order_missing, position_changed, position_unexplained
    symbol: str
    client_order_id: str = ""
    state: OrderState | None = None
    detail: str = ""
    held: Decimal | None = None  # position_changed: what the exchange holds now, on our side (0: nothing)


def diff_orders(ours: list[OurOrder], theirs: dict[str, OrderState | None]) -> list[Correction]:
    """``theirs``: the exchange's answer per client order id (None: the exchange has no such order)."""
    corrections = []
    for order in ours:
        state = theirs.get(order.client_order_id)
        if state is None:
            if order.status == "pending":
                corrections.append(
                    Correction(
                        "order_missing", order.symbol, order.client_order_id, detail="never reached the exchange"
                    )
                )
            else:
                corrections.append(
                    Correction("order_missing", order.symbol, order.client_order_id, detail="gone from the exchange")
                )
            continue
        mapped = {"closed": "filled"}.get(state.status, state.status)
        if mapped != order.status or state.filled != order.filled:
            corrections.append(Correction("order_update", order.symbol, order.client_order_id, state=state))
    return corrections


def diff_positions(
    ours: list[OurPosition], theirs: list[PositionState], *, tolerance: Decimal = Decimal("1e-9")
) -> list[Correction]:
    """Our open positions against the exchange's. A position of ours that the exchange closed or resized on the
    same side (its owner on the exchange's site, the exchange itself) is ``position_changed``: we take the
    exchange's figure and say so. A position we do not know of, or on the other side, cannot be explained by our
    records: ``position_unexplained``, the bot halts and a person looks."""
    mine = {p.symbol: p for p in ours}
    exchange = {p.symbol: p for p in theirs if p.amount > 0}
    corrections = []
    for symbol in sorted(set(mine) | set(exchange)):
        a, b = mine.get(symbol), exchange.get(symbol)
        if a is None:
            b = cast(PositionState, b)  # the symbol came from one of the two maps: not ours, so the exchange's
            corrections.append(
                Correction(
                    "position_unexplained", symbol, detail=f"the exchange holds {b.side} {b.amount}; we hold nothing"
                )
            )
        elif b is None:
            corrections.append(
                Correction(
                    "position_changed",
                    symbol,
                    detail=f"we held {a.side} {a.amount}; the exchange holds nothing",
                    held=Decimal(0),
                )
            )
        elif a.side != b.side:
            corrections.append(
                Correction(
                    "position_unexplained",
                    symbol,
                    detail=f"we hold {a.side} {a.amount}; the exchange holds {b.side} {b.amount}",
                )
            )
        elif abs(a.amount - b.amount) > tolerance * max(a.amount, Decimal(1)):
            corrections.append(
                Correction(
                    "position_changed",
                    symbol,
                    detail=f"we held {a.side} {a.amount}; the exchange holds {b.side} {b.amount}",
                    held=b.amount,
                )
            )
    return corrections
