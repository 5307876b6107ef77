"""Where a bot's tick is run: one bot on one closed candle. Claim the candle, take the signal (computed once per
group by the loop, or here), decide against the position held at the close, check the risk limits, and
send the exit and entry legs with client order ids derived from the bot and the candle. What an exchange
error does to a bot (back off and retry, or halt with the reason) is here too.

Why this file is long: one tick's steps (claim, signal, decide, risk check, the legs) and the failure handling they
share read best in order in one place; what a tick does to a held position lives in ``trading.execution``."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.crypto import CryptoError
from accounts.models import ExchangeAccount
from market_data.selectors import load_candles, to_ms
from market_data.timeframes import TIMEFRAME_MS
from strategies.builtin import get_strategy
from strategies.interface import LEVEL_COLUMNS, SIGNAL_COLUMNS, StrategyError
from trading import clock, labels
from trading.bots import engine
from trading.bots.services import bot_halt_for_strategy, bot_set_status
from trading.exchanges.base import Exchange
from trading.exchanges.errors import (
    AuthenticationError,
    CredentialsUnusable,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    TemporaryError,
    UnknownSymbol,
)
from trading.execution import router
from trading.execution.adapters import exchange_session
from trading.execution.adding import position_add
from trading.execution.equity import account_equity
from trading.execution.levels import bot_follow, signal_levels
from trading.execution.positions import (
    close_position,
    has_open_position,
    open_position,
    position_open,
    risk_envelope,
)
from trading.models import Bot, Order, Position

log = logging.getLogger(__name__)

HUNDRED = Decimal(100)


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
    last = frame.iloc[-1]
    # the four, a script's adds, and its stop and target of this candle (floats; None where it gives none)
    return {
        name: (None if math.isnan(last[name]) else float(last[name])) if name in LEVEL_COLUMNS else bool(last[name])
        for name in frame.columns
    }


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
        Position.objects.select_related("exchange_account", "bot")
        .filter(bot=bot, symbol=bot.symbol, opened_at__lt=when)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=when))
        .order_by("-opened_at")
        .first()
    )


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
    # 1. claim the candle
    if not _claim(bot, candle_open):
        return TickResult(bot.pk, "skipped", [])
    return bot_act(bot, candle_open, signal, history_start)


_UNREAD: Any = object()


def bot_act(
    bot: Bot,
    candle_open: datetime,
    signal: Mapping[str, bool] | None,
    history_start: datetime | None = None,
    *,
    held: Position | None = _UNREAD,
) -> TickResult:
    """A bot's tick after its claim: the signal, the decision, the risk check and the orders. The loop's
    batch (``trading.bots.batch``) claims many bots at once and calls this for those that trade or halt,
    with ``held``: the position the bot held at the candle's close (with its account and bot), read for all
    of them at once."""
    bot_id = bot.pk
    # 2-3. candles and signals (the loop hands in the signal when it computed it once for many bots)
    if signal is None:
        try:
            signal = signal_row(bot=bot, candle_open=candle_open, history_start=history_start)
        except StrategyError as exc:
            if exc.transient:  # the seconds ran out on a busy worker: this candle is missed, the bot runs on
                log.warning("bot %s missed a candle: %s", bot_id, exc, extra={"bot_id": bot_id})
                return TickResult(bot_id, "skipped", [], str(exc))
            bot_halt_for_strategy(bot=bot, exc=exc)
            return TickResult(bot_id, "halted", [], str(exc))
    if signal is None:
        return TickResult(
            bot_id, "no_candle", [], _("The candle of %(time)s is not stored yet.") % {"time": candle_open}
        )
    # 4. decide against the position held at that candle's close
    if held is _UNREAD:
        held = _held_at(bot, candle_open + timedelta(milliseconds=TIMEFRAME_MS[bot.timeframe]))
    decision = engine.decide(
        signal, held=held.side if held else None, direction=bot.direction, entries=held.entries if held else 1,
        pyramiding=bot.pyramiding,
    )  # fmt: skip
    if decision.is_noop and held is None:
        return TickResult(bot_id, "nothing", [])  # flat and nothing to do: no order, no risk to check
    account = bot.exchange_account
    orders: list[int] = []
    try:
        with exchange_session(account) as exchange:
            halted = _risk_check(bot, exchange)
            if halted:
                return TickResult(bot_id, "halted", orders, halted)
            scope = f"bot:{bot.pk}"
            candle_ms = to_ms(candle_open)
            if decision.is_noop or decision.add:  # the position (if any) stays: its stop follows the candle
                order = bot_follow(exchange=exchange, bot=bot, held=held, signal=signal, candle_open=candle_open)
                if order is None and decision.add and _still_open_here(held, account):
                    order = position_add(
                        exchange=exchange, position=held, capped=bot_capped(bot, signal), bot=bot,
                        candle_open=candle_open, client_id=router.client_order_id(scope, candle_ms, "add"),
                    )  # fmt: skip
                return TickResult(bot_id, "traded" if order else "nothing", [order.pk] if order else orders)
            # 5-6. the exit leg: only the position held at the close, if it is still open on this account (one open
            # position per account and market: then it is the account's open position there)
            if decision.exit and _still_open_here(held, account):
                order = close_position(
                    exchange, held, client_id=router.client_order_id(scope, candle_ms, "exit"),
                    note=decision.exit_reason, source=Order.Source.BOT, candle_open=candle_open,
                )  # fmt: skip
                orders.append(order.pk)
            # the entry leg, when flat
            if decision.entry and not has_open_position(account, bot.symbol):
                order = _open_for_bot(exchange, bot, decision.entry, candle_open, scope, candle_ms, signal)
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


def _still_open_here(held: Position | None, account: ExchangeAccount) -> bool:
    """The position held at the close is still open on this account (one open position per account and market:
    then it is the account's open position there)."""
    return held is not None and held.status == Position.Status.OPEN and held.exchange_account_id == account.pk


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
    """Recorded on the account as a failed connection test; its owner told (at most once an hour)."""
    from trading.exchange_accounts.connection import account_keys_failing

    account_keys_failing(account=account, code=code, reason=reason)


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


def bot_capped(bot: Bot, signal: Mapping[str, Any] | None = None) -> router.Capped:
    """The bot's leverage, size and stops within its owner's risk envelope; the strategy's own stop and target of
    the signal candle, when it gives them, replace the percentages."""
    capped = router.apply_envelope(
        router.Request(
            leverage=bot.leverage,
            position_size_pct=bot.position_size_pct,
            stop_loss_pct=bot.stop_loss_pct,
            take_profit_pct=bot.take_profit_pct,
            use_default_stops=False,
        ),
        risk_envelope(bot.user),
    )
    levels = signal_levels(signal)
    return capped if levels is None else replace(capped, levels=levels)


def _open_for_bot(
    exchange: Exchange,
    bot: Bot,
    side: str,
    candle_open: datetime,
    scope: str,
    candle_ms: int,
    signal: Mapping[str, Any] | None = None,
) -> Order | None:
    account = bot.exchange_account
    capped = bot_capped(bot, signal)
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
        position = open_position(bot.exchange_account, bot.symbol)
        if position is not None and position.bot_id == bot.pk:
            close_position(
                exchange, position, client_id=router.client_order_id(f"bot:{bot.pk}", to_ms(clock.now()), "halt"),
                note="risk halt", source=Order.Source.SYSTEM,
            )  # fmt: skip
        bot_set_status(bot=bot, status=Bot.Status.HALTED, reason_code=code, reason_data=data)
    return reason
