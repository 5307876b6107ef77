"""The loop's paper step: at a candle close the paper exchange plays the closed candle (stops, liquidations,
targets against its high and low), then the new price, for every market an account holds or rests an order on;
then the account's equity snapshot."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from accounts.models import ExchangeAccount
from market_data.selectors import to_ms
from trading.exchanges.paper import Fill
from trading.execution.adapters import paper_session
from trading.execution.equity import equity_snapshot
from trading.execution.records import flush
from trading.models import Position

CandleFor = Callable[[str], tuple[Mapping[str, Any], list[tuple[Decimal, Decimal]]] | None]


def paper_step(*, account: ExchangeAccount, now: datetime, candle_for: CandleFor) -> list[Fill]:
    """The paper exchange at a candle close ``now``, for every market the account holds a position or a
    resting order on: the closed candle (stops, liquidation, targets against its high and low), then the
    new price (the next open: stops and targets it jumped beyond); then the account's equity snapshot."""
    with paper_session(account) as exchange:
        book = exchange.book
        symbols = set(book.positions) | {o.symbol for o in book.orders.values() if o.status == "open"}
        now_ms = to_ms(now)
        for symbol in sorted(symbols):
            found = candle_for(symbol)
            if found is not None:
                candle, intrabar = found
                exchange.on_candle(
                    symbol,
                    _dec(candle["open"]),
                    _dec(candle["high"]),
                    _dec(candle["low"]),
                    to_ms(candle["time"]),
                    intrabar,
                )
            price = exchange._price(symbol)
            exchange.on_price(symbol, price, now_ms)
            if symbol in book.positions or exchange.fills:
                flush(exchange)
                _mark(account, symbol, price)
        fills = list(exchange.fills)
        equity_snapshot(account=account, time=now, exchange=exchange)
        return fills


def paper_candle(
    *, account: ExchangeAccount, symbol: str, candle: Mapping[str, Any], intrabar: list[tuple[Decimal, Decimal]] = ()
) -> list[Fill]:
    """One closed candle on the paper exchange: stops, liquidations and targets it reached fill."""
    with paper_session(account) as exchange:
        fills = exchange.on_candle(
            symbol, _dec(candle["open"]), _dec(candle["high"]), _dec(candle["low"]), to_ms(candle["time"]), intrabar
        )
        _mark(account, symbol, _dec(candle["close"]))
        return fills


def _mark(account: ExchangeAccount, symbol: str, price: Decimal) -> None:
    Position.objects.filter(exchange_account=account, symbol=symbol, status=Position.Status.OPEN).update(
        mark_price=price
    )


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(repr(float(value)))
