"""Every trading write: bots, the per-candle tick, order submission, fills, positions, manual actions,
risk halts and reconciliation. Views, API views, tasks and commands call these, never the models."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.crypto import CryptoError
from accounts.models import ExchangeAccount, RiskProfile
from market_data.selectors import load_candles, ms_to_datetime, to_ms
from market_data.timeframes import TIMEFRAME_MS
from strategies.builtin import REGISTRY, get_strategy
from strategies.interface import SIGNAL_COLUMNS, StrategyError
from strategies.labels import strategy_name
from strategies.messages import strategy_error_message
from trading import clock, engine, labels, router
from trading.adapters import exchange_session, flush
from trading.exchanges.base import Exchange, Market, OrderRequest, OrderState
from trading.exchanges.errors import (
    AuthenticationError,
    CredentialsUnusable,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    TemporaryError,
    UnknownSymbol,
)
from trading.exchanges.paper import Fill
from trading.models import Bot, Direction, EquitySnapshot, Order, OrderEvent, Position, Trade

log = logging.getLogger(__name__)

HUNDRED = Decimal(100)
STATUS_FROM_EXCHANGE = {
    "open": Order.Status.OPEN,
    "closed": Order.Status.FILLED,
    "canceled": Order.Status.CANCELED,
    "rejected": Order.Status.REJECTED,
    "expired": Order.Status.EXPIRED,
}
EXIT_REASONS = {"market": "signal", "limit": "signal", "stop_loss": "stop_loss", "take_profit": "take_profit"}


# --- bots -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BotSettings:
    strategy: str
    symbol: str
    timeframe: str
    params: Mapping[str, Any] | None = None
    name: str = ""
    leverage: int = 1
    position_size_pct: Decimal = Decimal(10)
    stop_loss_pct: Decimal | None = Decimal(2)
    take_profit_pct: Decimal | None = Decimal(4)
    max_drawdown_pct: Decimal = Decimal(20)
    daily_loss_limit_pct: Decimal | None = None
    direction: str = Direction.LONG


def _fail(field: str, message: str) -> None:
    raise ValidationError({field: [message]})


def _validate_bot(*, user: Any, account: ExchangeAccount, bot: BotSettings) -> tuple[dict[str, Any], str]:
    if account.user_id != user.pk:
        _fail("exchange_account", _("Choose one of your exchange accounts."))
    if not account.enabled:
        _fail("exchange_account", _("This exchange account is disabled: enable it first."))
    if bot.strategy not in REGISTRY:
        _fail("strategy", _("Unknown strategy %(slug)r.") % {"slug": bot.strategy})
    strategy = get_strategy(bot.strategy)
    try:
        params = strategy.validate(bot.params)
    except StrategyError as exc:
        raise ValidationError({"params": [strategy_error_message(exc)]}) from None
    if bot.timeframe not in TIMEFRAME_MS:
        _fail("timeframe", _("Unknown timeframe %(tf)r.") % {"tf": bot.timeframe})
    if bot.direction not in Direction.values:
        _fail("direction", _("Direction must be long, short or both."))
    if (
        bot.direction != Direction.LONG
        and account.market_type == ExchangeAccount.MarketType.SPOT
        and not account.is_paper
    ):
        _fail("direction", _("A spot account can only go long; use a perpetual account to short."))
    profile = RiskProfile.objects.get_or_create(user=user)[0]
    if not 1 <= int(bot.leverage) <= int(profile.leverage):
        _fail(
            "leverage",
            _("Leverage must be from 1 to %(max)sx (your risk profile's limit).") % {"max": profile.leverage},
        )
    if not Decimal(5) <= Decimal(bot.position_size_pct) <= profile.position_size_pct:
        _fail(
            "position_size_pct",
            _("Position size must be from 5 to %(max)s %% (your risk profile's limit).")
            % {"max": profile.position_size_pct},
        )
    symbol = bot.symbol.strip().upper()
    from trading.adapters import adapter_for

    try:
        market = adapter_for(account).market(_unified(symbol, account))
    except ExchangeError:
        _fail("symbol", _("%(exchange)s does not list %(symbol)s.") % {"exchange": account.exchange, "symbol": symbol})
    return params, market.symbol


def _unified(symbol: str, account: ExchangeAccount) -> str:
    base = symbol.split(":", 1)[0]
    if "/" not in base:
        from market_data.symbols import normalize_symbol

        base = normalize_symbol(base)
    if account.market_type == ExchangeAccount.MarketType.SWAP:
        return f"{base}:{base.split('/')[1]}"
    return base


@transaction.atomic
def bot_create(*, user: Any, exchange_account: ExchangeAccount, settings_: BotSettings, start: bool = False) -> Bot:
    """A bot from a strategy; paused unless ``start``. Its risk settings must sit inside the user's
    risk profile (leverage and size are maxima there)."""
    params, symbol = _validate_bot(user=user, account=exchange_account, bot=settings_)
    bot = Bot(
        user=user,
        exchange_account=exchange_account,
        name=settings_.name or f"{strategy_name(settings_.strategy)} {symbol} {settings_.timeframe}",
        strategy=settings_.strategy,
        params=params,
        symbol=symbol,
        timeframe=settings_.timeframe,
        leverage=int(settings_.leverage),
        position_size_pct=Decimal(settings_.position_size_pct),
        stop_loss_pct=settings_.stop_loss_pct,
        take_profit_pct=settings_.take_profit_pct,
        max_drawdown_pct=Decimal(settings_.max_drawdown_pct),
        daily_loss_limit_pct=settings_.daily_loss_limit_pct,
        direction=settings_.direction,
        status=Bot.Status.PAUSED,
    )
    bot.full_clean()
    bot.save()
    if start:
        bot_set_status(bot=bot, status=Bot.Status.RUNNING)
    return bot


def bot_set_status(
    *, bot: Bot, status: str, reason: str = "", reason_code: str = "", reason_data: Mapping[str, Any] | None = None
) -> Bot:
    """Start, pause, stop, or halt (a risk limit). Starting re-arms the drawdown from today's equity;
    it also skips the candle that is already closed, so a start never trades on a stale signal. A halt's reason
    is a code with its figures (``trading.labels.status_reason`` words it for the reader) or a text."""
    if status not in Bot.Status.values:
        raise ValidationError({"status": [_("Unknown bot status.")]})
    with transaction.atomic():
        bot = Bot.objects.select_for_update().get(pk=bot.pk)
        if status == Bot.Status.RUNNING:
            if not bot.exchange_account.enabled:
                raise ValidationError(
                    _("The exchange account %(label)s is disabled.") % {"label": bot.exchange_account.label}
                )
            bot.peak_equity = None
            bot.day_start = None
            step = TIMEFRAME_MS[bot.timeframe]
            bot.last_candle_open = ms_to_datetime(clock.now_ms() // step * step - step)
        bot.status = status
        bot.status_reason = reason[:300]
        bot.status_detail = {"code": reason_code, **(reason_data or {})} if reason_code else {}
        bot.status_changed_at = clock.now()
        fields = ["status", "status_reason", "status_detail", "status_changed_at", "peak_equity", "day_start"]
        fields.append("last_candle_open")
        bot.save(update_fields=[*fields, "updated_at"])
    _notify(bot.user, "bot_status", bot=bot.pk, status=status, reason=reason or reason_code)
    return bot


def auto_trading_set(*, user: Any, enabled: bool) -> bool:
    """The per-user switch: off, no bot of this user places an order (protective orders stay)."""
    get_user_model().objects.filter(pk=user.pk).update(auto_trading=enabled)
    user.auto_trading = enabled
    _notify(user, "auto_trading", enabled=enabled)
    return enabled


def _notify(user: Any, kind: str, **data: Any) -> None:
    log.info(
        "trading event %s",
        kind,
        extra={"user_id": getattr(user, "pk", None), **{f"event_{k}": v for k, v in data.items()}},
    )


# --- orders -----------------------------------------------------------------------------------------


def _event(order: Order, kind: str, message: str = "", at: datetime | None = None, **data: Any) -> None:
    """An entry in the order's history, at market time: ``at`` (a fill's own time, the one its trade carries)
    or the clock's now."""
    OrderEvent.objects.create(order=order, kind=kind, message=message[:500], data=data, time=at or clock.now())


def _state_update(order: Order, state: OrderState) -> None:
    order.exchange_order_id = state.exchange_order_id or order.exchange_order_id
    status = STATUS_FROM_EXCHANGE.get(state.status, order.status)
    order.status = status
    order.filled = state.filled
    order.average_price = state.average
    order.fee = state.fee
    order.save(update_fields=["exchange_order_id", "status", "filled", "average_price", "fee", "updated_at"])


def order_submit(
    *,
    exchange: Exchange,
    account: ExchangeAccount,
    request: OrderRequest,
    purpose: str,
    source: str = Order.Source.BOT,
    bot: Bot | None = None,
    position: Position | None = None,
    candle_open: datetime | None = None,
    note: str = "",
) -> Order:
    """Store the order (the row exists before the exchange hears of it), then send it. The same client
    order id twice returns the stored order instead of sending a second one. Exchange errors end in a
    clear state: rejected (with the reason) or pending (unknown: the reconciler looks it up)."""
    order, created = Order.objects.get_or_create(
        exchange_account=account,
        client_order_id=request.client_order_id,
        defaults={
            "user_id": account.user_id,
            "bot": bot,
            "position": position,
            "symbol": request.symbol,
            "side": request.side,
            "type": request.type,
            "purpose": purpose,
            "source": source,
            "amount": request.amount,
            "price": request.price,
            "trigger_price": request.trigger_price,
            "reduce_only": request.reduce_only,
            "candle_open": candle_open,
            "note": note[:300],
            "created_at": clock.now(),
        },
    )
    if not created and order.status != Order.Status.PENDING:
        return order  # already sent and answered: never twice
    _event(order, "created" if created else "resent", note)
    try:
        if created:
            state = exchange.create_order(request)
        else:  # a retry: the first attempt may have reached the exchange
            try:
                state = exchange.fetch_order(request.symbol, client_order_id=request.client_order_id)
            except OrderNotFound:
                state = exchange.create_order(request)
    except (InvalidOrder, InsufficientFunds, AuthenticationError) as exc:
        order.status = Order.Status.REJECTED
        order.note = exc.message[:300]
        order.save(update_fields=["status", "note", "updated_at"])
        _event(order, "rejected", exc.message, error=type(exc).__name__)
        raise
    except TemporaryError as exc:
        _event(order, "send_failed", exc.message, error=type(exc).__name__)
        raise
    _state_update(order, state)
    _event(order, "acknowledged", "", status=state.status, exchange_order_id=state.exchange_order_id)
    flush(exchange)
    if not account.is_paper and state.status == "closed" and state.filled > 0:
        _fill_record(
            order=Order.objects.get(pk=order.pk),
            price=state.average or request.price or Decimal(0),
            amount=state.filled,
            fee=state.fee,
            time=ms_to_datetime(state.updated_ms) if state.updated_ms else clock.now(),
            reason="market",
        )
    order.refresh_from_db()
    return order


def paper_changes_record(*, account: ExchangeAccount, fills: list[Fill], orders: list[OrderState]) -> None:
    """What the paper exchange did (fills, cancellations) into Trendy's orders, positions and trades."""
    for fill in fills:
        order = Order.objects.filter(exchange_account=account, client_order_id=fill.order.client_order_id).first()
        if order is None:  # the exchange's own order: a liquidation, or the end of a replay
            order = Order.objects.create(
                user_id=account.user_id,
                exchange_account=account,
                symbol=fill.order.symbol,
                side=fill.order.side,
                type="market",
                purpose=Order.Purpose.EXIT,
                source=Order.Source.SYSTEM,
                amount=fill.amount,
                reduce_only=True,
                client_order_id=fill.order.client_order_id,
                exchange_order_id=fill.order.exchange_order_id,
                created_at=ms_to_datetime(fill.time_ms),
            )
            _event(order, "created", fill.reason)
        if order.trades.exists():
            continue
        _state_update(order, fill.order)
        _fill_record(
            order=order,
            price=fill.price,
            amount=fill.amount,
            fee=fill.fee,
            time=ms_to_datetime(fill.time_ms),
            reason=fill.reason,
            realized_pnl=fill.realized_pnl if fill.closed_amount else None,
            margin=fill.opened.margin if fill.opened is not None else None,
            leverage=fill.opened.leverage if fill.opened is not None else None,
        )
    for state in orders:
        if state.status in ("canceled", "expired", "rejected"):
            Order.objects.filter(
                exchange_account=account, client_order_id=state.client_order_id, status__in=Order.OPEN_STATUSES
            ).update(status=STATUS_FROM_EXCHANGE[state.status], note=state.reason[:300], updated_at=timezone.now())


@transaction.atomic  # the position is locked (select_for_update): a worker outside a transaction could not
def _fill_record(
    *,
    order: Order,
    price: Decimal,
    amount: Decimal,
    fee: Decimal,
    time: datetime,
    reason: str,
    realized_pnl: Decimal | None = None,
    margin: Decimal | None = None,
    leverage: int | None = None,
) -> Trade:
    """One fill: the Trade row, and the position it opens, grows, reduces or closes. ``leverage``: what the
    order was placed with (the exchange's position says; else the bot's, else 1)."""
    account = order.exchange_account
    position = (
        Position.objects.select_for_update()
        .filter(exchange_account=account, symbol=order.symbol, status=Position.Status.OPEN)
        .first()
    )
    pnl = Decimal(0)
    remaining = amount
    if position is not None and (position.side == Position.Side.LONG) == (order.side == "sell"):
        closing = min(amount, position.amount)
        share = closing / position.amount
        sign = 1 if position.side == Position.Side.LONG else -1
        exit_fee = fee * (closing / amount)
        if realized_pnl is None:  # net of the exit fee and of the closed share of the entry fee
            gross = sign * closing * (price - position.entry_price)
            realized_pnl = gross - exit_fee - position.fees * share
        pnl = realized_pnl
        position.realized_pnl = (position.realized_pnl or Decimal(0)) + pnl
        position.fees += exit_fee
        position.amount -= closing
        position.margin -= position.margin * share
        if position.amount <= 0:
            position.amount = Decimal(0)
            position.status = Position.Status.CLOSED
            position.closed_at = time
            position.exit_price = price
            position.exit_reason = _exit_reason(order, reason)
        position.save()
        order.position = position
        remaining = amount - closing
    elif position is not None:
        # A fill on the side already held (an order whose fill is learnt late, by the reconciler): it grows the
        # position; a second open position on one market would break the one-per-market rule.
        total = position.amount + amount
        position.entry_price = (position.entry_price * position.amount + price * amount) / total
        position.amount = total
        position.margin += margin if margin is not None else amount * price / position.leverage
        position.fees += fee
        position.save()
        order.position = position
        remaining = Decimal(0)
    if remaining > 0:
        leverage = int(leverage or (order.bot.leverage if order.bot else 1))
        position = Position.objects.create(
            user_id=order.user_id,
            exchange_account=account,
            bot=order.bot,
            symbol=order.symbol,
            side=Position.Side.LONG if order.side == "buy" else Position.Side.SHORT,
            amount=remaining,
            entry_price=price,
            leverage=leverage,
            margin=margin if margin is not None else remaining * price / leverage,
            fees=fee * (remaining / amount),
            mark_price=price,
            opened_at=time,
        )
        if position.side == Position.Side.LONG and leverage > 1:
            position.liquidation_price = price * (1 - Decimal(1) / leverage)
        elif position.side == Position.Side.SHORT:
            position.liquidation_price = price * (1 + Decimal(1) / leverage)
        position.save(update_fields=["liquidation_price"])
        order.position = position
    order.save(update_fields=["position", "updated_at"])
    _event(order, "filled", "", at=time, price=str(price), amount=str(amount), fee=str(fee), reason=reason)
    return Trade.objects.create(
        user_id=order.user_id,
        exchange_account=account,
        order=order,
        position=order.position,
        bot=order.bot,
        symbol=order.symbol,
        side=order.side,
        amount=amount,
        price=price,
        fee=fee,
        realized_pnl=pnl,
        time=time,
    )


def _exit_reason(order: Order, reason: str) -> str:
    if reason in ("liquidation", "end", "stop_loss", "take_profit"):
        return reason
    if order.purpose == Order.Purpose.STOP_LOSS:
        return "stop_loss"
    if order.purpose == Order.Purpose.TAKE_PROFIT:
        return "take_profit"
    if order.note.startswith("reversal"):
        return "reversal"
    if order.note.startswith("risk halt"):
        return "risk_halt"
    return "manual" if order.source == Order.Source.MANUAL else "signal"


# --- the tick ---------------------------------------------------------------------------------------


def signal_row(*, bot: Bot, candle_open: datetime, history_start: datetime | None = None) -> dict[str, bool] | None:
    """The strategy's signals on the closed candle that opened at ``candle_open``, from the last
    ``lookback`` candles (the same frame the backtest computes). None when that candle is not stored."""
    strategy = get_strategy(bot.strategy)
    params = strategy.validate(bot.params)
    step = timedelta(milliseconds=TIMEFRAME_MS[bot.timeframe])
    start = candle_open - step * (strategy.lookback(params) - 1)
    if history_start is not None:
        start = max(start, history_start)
    candles = load_candles(
        clock.data_exchange(bot.exchange_account.exchange),
        clock.data_symbol(bot.symbol),
        bot.timeframe,
        start,
        candle_open + step,
    )
    return signal_from_candles(bot.strategy, params, candles, candle_open)


def signal_from_candles(
    strategy_slug: str, params: dict[str, Any], candles: Any, candle_open: datetime
) -> dict[str, bool] | None:
    if not len(candles) or candles.index[-1] != candle_open:
        return None
    strategy = get_strategy(strategy_slug)
    if len(candles) < strategy.warmup(params) + 1:
        return dict.fromkeys(SIGNAL_COLUMNS, False)
    frame = strategy.signals(candles, params)
    return {name: bool(frame[name].iloc[-1]) for name in SIGNAL_COLUMNS}


def _claim(bot: Bot, candle_open: datetime) -> bool:
    """Two workers never act on the same bot and candle: the first conditional update wins. A bot whose
    owner switched auto-trading off claims nothing."""
    if not bot.user.auto_trading:
        return False
    return bool(
        Bot.objects.filter(id=bot.pk, status=Bot.Status.RUNNING)
        .filter(Q(last_candle_open__lt=candle_open) | Q(last_candle_open__isnull=True))
        .update(last_candle_open=candle_open, last_tick_at=timezone.now())
    )


def _held_at(bot: Bot, when: datetime) -> Position | None:
    return (
        Position.objects.filter(bot=bot, symbol=bot.symbol, opened_at__lt=when)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=when))
        .order_by("-opened_at")
        .first()
    )


def _open_position(account: ExchangeAccount, symbol: str) -> Position | None:
    return Position.objects.filter(exchange_account=account, symbol=symbol, status=Position.Status.OPEN).first()


def _envelope(user: Any) -> router.Envelope:
    profile = RiskProfile.objects.get_or_create(user=user)[0]
    return router.Envelope(
        max_leverage=int(profile.leverage),
        max_position_size_pct=profile.position_size_pct,
        default_stop_loss_pct=profile.stop_loss_pct,
        default_take_profit_pct=profile.take_profit_pct,
    )


def _slippage_bps(account: ExchangeAccount) -> Decimal:
    if account.is_paper:
        from trading.paper_store import wallet_for

        return wallet_for(account).slippage_bps
    return Decimal(settings.TRENDY_LIVE_SLIPPAGE_BPS)


def account_equity(exchange: Exchange, account: ExchangeAccount) -> tuple[Decimal, Decimal]:
    """(balance, equity) in USDT: the wallet balance, and with unrealised PnL of open positions."""
    balance = exchange.fetch_balance().get("USDT")
    total = balance.total if balance else Decimal(0)
    unrealized = sum((p.unrealized_pnl for p in exchange.fetch_positions()), Decimal(0))
    return total, total + unrealized


@dataclass
class TickResult:
    bot_id: int
    outcome: str  # skipped, no_candle, nothing, traded, halted, error
    orders: list[int]
    message: str = ""


def bot_tick(
    *,
    bot_id: int,
    candle_open: datetime,
    signal: Mapping[str, bool] | None = None,
    history_start: datetime | None = None,
) -> TickResult:
    """One bot on one closed candle: claim, signals, decide, risk, route, submit, protect."""
    bot = Bot.objects.select_related("exchange_account", "user").filter(pk=bot_id).first()
    if bot is None:
        return TickResult(bot_id, "skipped", [], "no such bot")
    if bot.exchange_account.is_paper:
        # On paper the claim commits with the trades: a worker killed mid-tick rolls both back, and the
        # re-delivered task (acks late) acts on the candle. A real exchange's orders commit before they are
        # sent, and their client order ids make a re-run harmless.
        with transaction.atomic():
            return _bot_tick(bot, candle_open, signal, history_start)
    return _bot_tick(bot, candle_open, signal, history_start)


def _bot_tick(
    bot: Bot, candle_open: datetime, signal: Mapping[str, bool] | None, history_start: datetime | None
) -> TickResult:
    bot_id = bot.pk
    # 1. claim the candle
    if not _claim(bot, candle_open):
        return TickResult(bot_id, "skipped", [])
    # 2-3. candles and signals (the loop hands in the signal when it computed it once for many bots)
    if signal is None:
        signal = signal_row(bot=bot, candle_open=candle_open, history_start=history_start)
    if signal is None:
        return TickResult(
            bot_id, "no_candle", [], _("The candle of %(time)s is not stored yet.") % {"time": candle_open}
        )
    # 4. decide against the position held at that candle's close
    close_time = candle_open + timedelta(milliseconds=TIMEFRAME_MS[bot.timeframe])
    held = _held_at(bot, close_time)
    decision = engine.decide(signal, held=held.side if held else None, direction=bot.direction)
    if decision.is_noop and held is None:
        return TickResult(bot_id, "nothing", [])  # flat and nothing to do: no order, no risk to check
    account = bot.exchange_account
    orders: list[int] = []
    try:
        with exchange_session(account) as exchange:
            halted = _risk_check(bot, exchange)
            if halted:
                return TickResult(bot_id, "halted", orders, halted)
            if decision.is_noop:
                return TickResult(bot_id, "nothing", orders)
            scope = f"bot:{bot.pk}"
            candle_ms = to_ms(candle_open)
            # 5-6. the exit leg: only the position held at the close, if it is still open
            current = _open_position(account, bot.symbol)
            if decision.exit and held is not None and current is not None and current.pk == held.pk:
                order = _close_position(
                    exchange, current, client_id=router.client_order_id(scope, candle_ms, "exit"),
                    note=decision.exit_reason, source=Order.Source.BOT, candle_open=candle_open,
                )  # fmt: skip
                orders.append(order.pk)
            # the entry leg, when flat
            if decision.entry and _open_position(account, bot.symbol) is None:
                order = _open_for_bot(exchange, bot, decision.entry, candle_open, scope, candle_ms)
                if order is not None:
                    orders.append(order.pk)
    except TemporaryError as exc:
        # Let the task retry the same candle: release the claim; the client ids stay the same.
        Bot.objects.filter(pk=bot.pk, last_candle_open=candle_open).update(
            last_candle_open=candle_open - timedelta(milliseconds=1)
        )
        halted = _transient_failure(bot, exc)
        if halted:
            return TickResult(bot_id, "halted", orders, halted)
        raise exc
    except (ExchangeError, UnicodeError, CryptoError) as exc:
        _streak_reset(bot)
        message = _permanent_failure(bot, exc)
        return TickResult(bot_id, "halted", orders, message)
    _streak_reset(bot)
    return TickResult(bot_id, "traded" if orders else "nothing", orders)


# --- what an exchange error does to a bot -----------------------------------------------------------------


def _permanent_code(exc: BaseException) -> str:
    if isinstance(exc, CryptoError):
        return "keys_unreadable"
    if isinstance(exc, CredentialsUnusable | UnicodeError):
        return "keys_unusable"
    if isinstance(exc, AuthenticationError):
        return "keys_rejected"
    if isinstance(exc, UnknownSymbol):
        return "unknown_symbol"
    if isinstance(exc, InsufficientFunds):
        return "insufficient_funds"
    if isinstance(exc, InvalidOrder):
        return "order_refused"
    return "exchange_refused"


def _permanent_failure(bot: Bot, exc: BaseException) -> str:
    """A permanent error stops the bot: the same request would fail the same way on every candle. The bot is
    halted with the reason as a code (worded for each reader by ``trading.labels.status_reason``; the dashboard
    and the bots page show it); keys that cannot work also mark the account, as a failed connection test."""
    from trading_site.redact import redact

    code = _permanent_code(exc)
    # Never the UnicodeError's own text (it holds the key); the adapter's message is already clean.
    reason = redact(exc.message)[:200] if isinstance(exc, ExchangeError) else ""
    data: dict[str, Any] = {"reason": reason} if reason else {}
    if code == "unknown_symbol":
        data["symbol"] = bot.symbol
    log.warning(
        "bot %s halted: %s (%s)", bot.pk, code, type(exc).__name__, extra={"bot_id": bot.pk, "reason_code": code}
    )
    bot_set_status(bot=bot, status=Bot.Status.HALTED, reason_code=code, reason_data=data)
    if code in ("keys_unusable", "keys_rejected", "keys_unreadable"):
        _mark_account_keys(bot.exchange_account, code, reason)
    return labels.status_reason(code, data)


def _mark_account_keys(account: ExchangeAccount, code: str, reason: str) -> None:
    from accounts import services as account_services
    from trading.connection import test_message

    detail: dict[str, Any] = {"kind": code, "exchange": account.exchange, "testnet": account.testnet}
    if reason:
        detail["reason"] = reason
    account_services.exchange_account_record_test(
        account=account, ok=False, message=test_message(detail), withdrawals_enabled=None, detail=detail
    )


def _transient_failure(bot: Bot, exc: TemporaryError) -> str:
    """Count a transient failure in a row and set when the next try may run (``retry_delay``: 1 s doubling to
    5 minutes, with jitter, never before the exchange's Retry-After; the task and the catch-up both wait for
    it). Past ``TRENDY_BOT_MAX_TRANSIENT_FAILURES`` in a row the bot halts and the user reads why: returns
    that reason, or "" while the bot should try again (``exc.retry_in`` is then the wait in seconds)."""
    from trading.exchanges.errors import retry_delay

    with transaction.atomic():
        row = Bot.objects.select_for_update().get(pk=bot.pk)
        failures = row.transient_failures + 1
        delay = retry_delay(failures - 1, retry_after=getattr(exc, "retry_after", None))
        Bot.objects.filter(pk=bot.pk).update(
            transient_failures=failures, retry_not_before=timezone.now() + timedelta(seconds=delay)
        )
    bot.transient_failures = failures
    exc.retry_in = delay  # type: ignore[attr-defined]
    limit = int(settings.TRENDY_BOT_MAX_TRANSIENT_FAILURES)
    log.warning(
        "bot %s: exchange failure %d of %d in a row (%s), next try in %.1f s",
        bot.pk,
        failures,
        limit,
        type(exc).__name__,
        delay,
        extra={"bot_id": bot.pk},
    )
    if failures < limit:
        return ""
    from trading_site.redact import redact

    data = {"count": failures, "reason": redact(exc.message)[:200]}
    bot_set_status(bot=bot, status=Bot.Status.HALTED, reason_code="exchange_unavailable", reason_data=data)
    _streak_reset(bot)
    return labels.status_reason("exchange_unavailable", data)


def _streak_reset(bot: Bot) -> None:
    if bot.transient_failures or bot.retry_not_before:
        Bot.objects.filter(pk=bot.pk).update(transient_failures=0, retry_not_before=None)
        bot.transient_failures, bot.retry_not_before = 0, None


def _close_position(
    exchange: Exchange,
    position: Position,
    *,
    client_id: str,
    note: str,
    source: str,
    candle_open: datetime | None = None,
) -> Order:
    side = "sell" if position.side == Position.Side.LONG else "buy"
    request = OrderRequest(
        symbol=position.symbol,
        side=side,
        type="market",
        amount=position.amount,
        client_order_id=client_id,
        reduce_only=True,
    )
    return order_submit(
        exchange=exchange,
        account=position.exchange_account,
        request=request,
        purpose=Order.Purpose.EXIT,
        source=source,
        bot=position.bot,
        position=position,
        candle_open=candle_open,
        note=note,
    )


def _open_for_bot(
    exchange: Exchange, bot: Bot, side: str, candle_open: datetime, scope: str, candle_ms: int
) -> Order | None:
    account = bot.exchange_account
    capped = router.apply_envelope(
        router.Request(
            leverage=bot.leverage,
            position_size_pct=bot.position_size_pct,
            stop_loss_pct=bot.stop_loss_pct,
            take_profit_pct=bot.take_profit_pct,
            use_default_stops=False,
        ),
        _envelope(bot.user),
    )
    order = position_open(
        exchange=exchange,
        account=account,
        symbol=bot.symbol,
        side=side,
        capped=capped,
        client_id=router.client_order_id(scope, candle_ms, "entry"),
        bot=bot,
        source=Order.Source.BOT,
        candle_open=candle_open,
    )
    return order


def position_open(
    *,
    exchange: Exchange,
    account: ExchangeAccount,
    symbol: str,
    side: str,
    capped: router.Capped,
    client_id: str,
    bot: Bot | None = None,
    source: str = Order.Source.BOT,
    candle_open: datetime | None = None,
    note: str = "",
) -> Order:
    """Size an entry from the account's balance, send it, then place and verify its stop loss and take
    profit. Used by bots, TradingView alerts and people alike."""
    market: Market = exchange.market(symbol)
    if capped.adjustments:
        note = (note + " " if note else "") + "; ".join(str(a) for a in capped.adjustments)
        log.info("risk envelope adjusted an order", extra={"adjustments": [str(a) for a in capped.adjustments]})
    if exchange.capabilities.set_leverage:
        exchange.set_leverage(symbol, capped.leverage)
    balance, _equity = account_equity(exchange, account)
    order_side = "buy" if side == "long" else "sell"
    price = exchange.fetch_ticker(symbol).last
    sized = router.size_entry(
        market=market, side=order_side, equity=balance, capped=capped, price=price, slippage_bps=_slippage_bps(account)
    )
    request = OrderRequest(
        symbol=symbol, side=order_side, type="market", amount=sized.amount, client_order_id=client_id
    )
    order = order_submit(
        exchange=exchange, account=account, request=request, purpose=Order.Purpose.ENTRY, source=source, bot=bot,
        candle_open=candle_open, note=note,
    )  # fmt: skip
    if order.status == Order.Status.FILLED and order.position_id and not account.is_paper:
        _set_leverage(Position.objects.get(pk=order.position_id), capped.leverage)
    if order.status == Order.Status.FILLED and order.position_id:
        protect(
            exchange=exchange, position=Position.objects.get(pk=order.position_id), capped=capped, client_id=client_id
        )
    return order


def _set_leverage(position: Position, leverage: int) -> None:
    """A real exchange's fill says nothing of leverage: the position gets what the order was placed with."""
    if position.leverage == leverage:
        return
    position.leverage = leverage
    position.margin = position.amount * position.entry_price / leverage
    if position.side == Position.Side.LONG:
        position.liquidation_price = position.entry_price * (1 - Decimal(1) / leverage) if leverage > 1 else None
    else:
        position.liquidation_price = position.entry_price * (1 + Decimal(1) / leverage)
    position.save(update_fields=["leverage", "margin", "liquidation_price", "updated_at"])


def protect(*, exchange: Exchange, position: Position, capped: router.Capped, client_id: str) -> None:
    """Stop loss and take profit from the entry fill: exchange-native orders where the market has them
    (then verified on the exchange, retried once, and the position closed if they still are not
    there); otherwise stored on the position and watched by the loop on every tick."""
    market = exchange.market(position.symbol)
    stop, take = router.protective_levels(
        market=market,
        side=position.side,
        entry_price=position.entry_price,
        stop_loss_pct=capped.stop_loss_pct,
        take_profit_pct=capped.take_profit_pct,
    )
    Position.objects.filter(pk=position.pk).update(stop_loss=stop, take_profit=take)
    position.stop_loss, position.take_profit = stop, take
    side = "sell" if position.side == Position.Side.LONG else "buy"
    wanted = []
    if stop is not None and exchange.capabilities.stop_orders:
        wanted.append(("stop_market", stop, Order.Purpose.STOP_LOSS, "sl"))
    if take is not None and exchange.capabilities.take_profit_orders:
        wanted.append(("take_profit", take, Order.Purpose.TAKE_PROFIT, "tp"))
    for kind, level, purpose, leg in wanted:
        placed = False
        # A fresh client order id only after the exchange refused one; after a transient failure the same id
        # again, which order_submit looks up before it sends anything (the first one may rest there already).
        attempt = 0
        for _try in range(2):
            request = OrderRequest(
                symbol=position.symbol,
                side=side,
                type=kind,
                amount=position.amount,
                client_order_id=router.client_order_id(client_id, position.pk, f"{leg}{attempt}"),
                trigger_price=level,
                reduce_only=True,
            )
            try:
                order = order_submit(
                    exchange=exchange, account=position.exchange_account, request=request, purpose=purpose,
                    source=Order.Source.SYSTEM, bot=position.bot, position=position,
                )  # fmt: skip
            except (InvalidOrder, TemporaryError) as exc:
                log.warning("protective order failed", extra={"position_id": position.pk, "error": exc.message})
                attempt += isinstance(exc, InvalidOrder)
                continue
            placed = _verified(exchange, order)
            if placed:
                break
            attempt += order.status in (Order.Status.REJECTED, Order.Status.CANCELED, Order.Status.EXPIRED)
        if not placed:
            position.refresh_from_db()
            if position.status == Position.Status.OPEN:
                _close_position(
                    exchange, position, client_id=router.client_order_id(client_id, position.pk, "unprotected"),
                    note="unprotected", source=Order.Source.SYSTEM,
                )  # fmt: skip
                _notify(position.user, "unprotected_position_closed", position=position.pk)
            return


def _verified(exchange: Exchange, order: Order) -> bool:
    """Does the protective order really rest on the exchange?"""
    if order.status != Order.Status.OPEN:
        return order.status == Order.Status.FILLED
    try:
        state = exchange.fetch_order(order.symbol, client_order_id=order.client_order_id)
    except ExchangeError:
        return False
    return state.status in ("open", "closed")


def _risk_check(bot: Bot, exchange: Exchange) -> str:
    """Halt the bot when the account's drawdown from its peak, or today's loss, is beyond the limit."""
    _balance, equity = account_equity(exchange, bot.exchange_account)
    today = clock.now().date()
    fields = []
    if bot.peak_equity is None or equity > bot.peak_equity:
        bot.peak_equity = equity
        fields.append("peak_equity")
    if bot.day_start != today:
        bot.day_start, bot.day_start_equity = today, equity
        fields += ["day_start", "day_start_equity"]
    if fields:
        Bot.objects.filter(pk=bot.pk).update(**{f: getattr(bot, f) for f in fields})
    code, data = "", {}
    if bot.peak_equity and bot.peak_equity > 0:
        drawdown = (1 - equity / bot.peak_equity) * HUNDRED
        if drawdown > bot.max_drawdown_pct:
            code, data = "drawdown", {"drawdown": f"{drawdown:.4f}", "limit": str(bot.max_drawdown_pct)}
    if not code and bot.daily_loss_limit_pct and bot.day_start_equity and bot.day_start_equity > 0:
        loss = (1 - equity / bot.day_start_equity) * HUNDRED
        if loss > bot.daily_loss_limit_pct:
            code, data = "daily_loss", {"loss": f"{loss:.4f}", "limit": str(bot.daily_loss_limit_pct)}
    reason = labels.status_reason(code, data) if code else ""
    if code:
        position = _open_position(bot.exchange_account, bot.symbol)
        if position is not None and position.bot_id == bot.pk:
            _close_position(
                exchange, position, client_id=router.client_order_id(f"bot:{bot.pk}", to_ms(clock.now()), "halt"),
                note="risk halt", source=Order.Source.SYSTEM,
            )  # fmt: skip
        bot_set_status(bot=bot, status=Bot.Status.HALTED, reason_code=code, reason_data=data)
    return reason


def watch_stops(*, now: datetime | None = None) -> int:
    """Stop loss and take profit the exchange could not hold natively (no stop orders on that market):
    the loop compares them with the price every tick and closes the position with a market order.
    Returns how many positions it closed."""
    closed = 0
    protective = Order.objects.filter(
        position=OuterRef("pk"),
        status__in=Order.OPEN_STATUSES,
        purpose__in=[Order.Purpose.STOP_LOSS, Order.Purpose.TAKE_PROFIT],
    )
    watched = (
        Position.objects.filter(status=Position.Status.OPEN, exchange_account__enabled=True)
        .exclude(exchange_account__exchange=ExchangeAccount.PAPER)
        .filter(Q(stop_loss__isnull=False) | Q(take_profit__isnull=False))
        .annotate(has_orders=Exists(protective))
        .filter(has_orders=False)
        .select_related("exchange_account", "bot")
    )
    for position in watched:
        try:
            price = clock.current_price(position.exchange_account.exchange, position.symbol)
        except ExchangeError:
            continue
        long = position.side == Position.Side.LONG
        reason = ""
        if position.stop_loss is not None and (price <= position.stop_loss if long else price >= position.stop_loss):
            reason = "stop_loss"
        elif position.take_profit is not None and (
            price >= position.take_profit if long else price <= position.take_profit
        ):
            reason = "take_profit"
        if not reason:
            continue
        purpose = Order.Purpose.STOP_LOSS if reason == "stop_loss" else Order.Purpose.TAKE_PROFIT
        with exchange_session(position.exchange_account) as exchange:
            side = "sell" if long else "buy"
            request = OrderRequest(
                symbol=position.symbol, side=side, type="market", amount=position.amount, reduce_only=True,
                client_order_id=router.client_order_id(f"position:{position.pk}", "watched", reason),
            )  # fmt: skip
            try:
                order_submit(
                    exchange=exchange, account=position.exchange_account, request=request, purpose=purpose,
                    source=Order.Source.SYSTEM, bot=position.bot, position=position, note=reason,
                )  # fmt: skip
            except ExchangeError as exc:
                log.warning("watched stop failed", extra={"position_id": position.pk, "error": exc.message})
                continue
        closed += 1
        _notify(position.user, reason, position=position.pk)
    return closed


# --- manual actions ---------------------------------------------------------------------------------


def position_close(*, position: Position, source: str = Order.Source.MANUAL) -> Order:
    """Close a position now with a market order; its protective orders are cancelled."""
    if position.status != Position.Status.OPEN:
        raise ValidationError(_("This position is already closed."))
    with exchange_session(position.exchange_account) as exchange:
        position = Position.objects.get(pk=position.pk)
        if position.status != Position.Status.OPEN:
            raise ValidationError(_("This position is already closed."))
        _cancel_protective(exchange, position)
        client_id = router.client_order_id(f"position:{position.pk}", "close", "manual")
        return _close_position(exchange, position, client_id=client_id, note="manual close", source=source)


def _cancel_protective(exchange: Exchange, position: Position) -> None:
    for order in position.orders.filter(
        status__in=Order.OPEN_STATUSES, purpose__in=[Order.Purpose.STOP_LOSS, Order.Purpose.TAKE_PROFIT]
    ):
        order_cancel(order=order, exchange=exchange)


def order_cancel(*, order: Order, exchange: Exchange | None = None) -> Order:
    if not order.is_open:
        raise ValidationError(
            _("Only an open order can be cancelled (this one is %(status)s).") % {"status": order.get_status_display()}
        )
    if exchange is None:
        with exchange_session(order.exchange_account) as session:
            return order_cancel(order=order, exchange=session)
    with contextlib.suppress(OrderNotFound):  # already gone on the exchange: cancelled for us too
        exchange.cancel_order(order.symbol, client_order_id=order.client_order_id)
    Order.objects.filter(pk=order.pk).update(status=Order.Status.CANCELED, updated_at=timezone.now())
    _event(order, "canceled", "cancelled by request")
    flush(exchange)
    order.refresh_from_db()
    return order


def position_update_sl_tp(*, position: Position, stop_loss: Decimal | None, take_profit: Decimal | None) -> Position:
    """Move the stop loss / take profit (prices): the old protective orders are cancelled and new ones
    placed. A level on the wrong side of the price is refused."""
    if position.status != Position.Status.OPEN:
        raise ValidationError(_("This position is closed."))
    with exchange_session(position.exchange_account) as exchange:
        price = exchange.fetch_ticker(position.symbol).last
        long = position.side == Position.Side.LONG
        errors = {}
        if stop_loss is not None and (stop_loss <= 0 or (stop_loss >= price if long else stop_loss <= price)):
            errors["stop_loss"] = [
                _("A stop loss must be %(side)s the current price %(price)s.")
                % {"side": _("below") if long else _("above"), "price": price}
            ]
        if take_profit is not None and (take_profit <= 0 or (take_profit <= price if long else take_profit >= price)):
            errors["take_profit"] = [
                _("A take profit must be %(side)s the current price %(price)s.")
                % {"side": _("above") if long else _("below"), "price": price}
            ]
        if errors:
            raise ValidationError(errors)
        _cancel_protective(exchange, position)
        side = "sell" if long else "buy"
        stamp = to_ms(timezone.now())
        for kind, level, purpose in (
            ("stop_market", stop_loss, Order.Purpose.STOP_LOSS),
            ("take_profit", take_profit, Order.Purpose.TAKE_PROFIT),
        ):
            if level is None:
                continue
            market = exchange.market(position.symbol)
            request = OrderRequest(
                symbol=position.symbol, side=side, type=kind, amount=position.amount, reduce_only=True,
                trigger_price=market.round_price(level),
                client_order_id=router.client_order_id(f"position:{position.pk}", stamp, kind),
            )  # fmt: skip
            order_submit(
                exchange=exchange, account=position.exchange_account, request=request, purpose=purpose,
                source=Order.Source.MANUAL, bot=position.bot, position=position,
            )  # fmt: skip
        Position.objects.filter(pk=position.pk).update(stop_loss=stop_loss, take_profit=take_profit)
    position.refresh_from_db()
    return position


# --- equity and the paper market --------------------------------------------------------------------


def equity_snapshot(*, account: ExchangeAccount, time: datetime, exchange: Exchange | None = None) -> None:
    """Balance and equity (with unrealised PnL) at ``time``: one row per account and time."""
    if exchange is None:
        from trading.adapters import adapter_for

        exchange = adapter_for(account)
    balance, equity = account_equity(exchange, account)
    EquitySnapshot.objects.bulk_create(
        [EquitySnapshot(exchange_account=account, time=time, balance=balance, equity=max(equity, Decimal(0)))],
        update_conflicts=True,
        unique_fields=["exchange_account", "time"],
        update_fields=["balance", "equity"],
    )


CandleFor = Callable[[str], tuple[Mapping[str, Any], list[tuple[Decimal, Decimal]]] | None]


def paper_step(*, account: ExchangeAccount, now: datetime, candle_for: CandleFor) -> list[Fill]:
    """The paper exchange at a candle close ``now``, for every market the account holds a position or a
    resting order on: the closed candle (stops, liquidation, targets against its high and low), then the
    new price (the next open: stops and targets it jumped beyond); then the account's equity snapshot."""
    from trading.paper_store import paper_session

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
    from trading.paper_store import paper_session

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
