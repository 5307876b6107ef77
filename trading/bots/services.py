"""Bots: create one from a strategy inside the user's risk profile, start / pause / stop / halt it, and the
per-user auto-trading switch. Views, API views, admin actions and commands call these."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import ExchangeAccount, RiskProfile
from market_data.selectors import load_candles, ms_to_datetime
from market_data.timeframes import TIMEFRAME_MS
from strategies.builtin import get_strategy
from strategies.interface import Strategy, StrategyError
from strategies.labels import strategy_name
from strategies.messages import strategy_error_message
from strategies.pine_services import strategy_usable, version_for_slug
from strategies.services import script_levels
from trading import clock, labels
from trading.exchanges.errors import (
    ExchangeError,
)
from trading.execution.records import notify
from trading.models import Bot, Direction

log = logging.getLogger(__name__)


EXIT_FIELDS = (
    "stop_loss_pct", "take_profit_pct", "trailing_stop_pct", "trailing_activation_pct", "pyramiding", "levels_by_bar",
)  # fmt: skip
PROFILE_LESS = {  # what the risk profile has no field for
    "trailing_stop_pct": None, "trailing_activation_pct": Decimal(0), "pyramiding": 1, "levels_by_bar": False,
}  # fmt: skip


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
    trailing_stop_pct: Decimal | None = None
    trailing_activation_pct: Decimal = Decimal(0)
    pyramiding: int = 1
    levels_by_bar: bool = False  # set from the script (never by the trader): its stop and target bar by bar
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
    if not strategy_usable(user=user, slug=bot.strategy):
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
    from trading.execution.adapters import adapter_for

    try:
        market = adapter_for(account).market(_unified(symbol, account))
    except ExchangeError:
        _fail("symbol", _("%(exchange)s does not list %(symbol)s.") % {"exchange": account.exchange, "symbol": symbol})
    return params, market.symbol


def _own_levels(strategy: Strategy, params: dict[str, Any], exchange: str, symbol: str, timeframe: str):
    """The stop loss and take profit a Pine script sets with strategy.exit, read off the market's recent stored
    candles (as the backtest reads them off its period); None when the trader's settings decide."""
    if strategy.exit_levels is None:
        return None
    step = TIMEFRAME_MS[timeframe]
    end = ms_to_datetime(clock.now_ms() // step * step)
    start = ms_to_datetime(clock.now_ms() // step * step - step * strategy.lookback(params))
    candles = load_candles(clock.data_exchange(exchange), clock.data_symbol(symbol), timeframe, start, end)
    if len(candles) < 2:
        _fail("symbol", _("No stored candles of this market to read the script's exit levels from."))
    try:
        return script_levels(strategy, params, candles)
    except StrategyError as exc:
        raise ValidationError({"strategy": [strategy_error_message(exc)]}) from None


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
    levels = _own_levels(
        get_strategy(settings_.strategy), params, exchange_account.exchange, symbol, settings_.timeframe
    )
    if levels:  # the script's own exits, as its backtest uses them (within the bot's risk limits, checked below)
        settings_ = replace(settings_, **levels)
    bot = Bot(
        user=user,
        exchange_account=exchange_account,
        name=settings_.name or f"{strategy_name(settings_.strategy)} {symbol} {settings_.timeframe}"[-100:],
        strategy=settings_.strategy,
        params=params,
        symbol=symbol,
        timeframe=settings_.timeframe,
        leverage=int(settings_.leverage),
        position_size_pct=Decimal(settings_.position_size_pct),
        stop_loss_pct=settings_.stop_loss_pct,
        take_profit_pct=settings_.take_profit_pct,
        trailing_stop_pct=settings_.trailing_stop_pct,
        trailing_activation_pct=Decimal(settings_.trailing_activation_pct or 0),
        pyramiding=int(settings_.pyramiding),
        levels_by_bar=bool(settings_.levels_by_bar),
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


@transaction.atomic
def bot_move_version(*, user: Any, bot: Bot, strategy: str) -> Bot:
    """Move a Pine bot to another version of the same script (its parameters must fit the new inputs). The bot
    runs the version it was created with until its owner calls this."""
    bot = Bot.objects.select_for_update().get(pk=bot.pk, user=user)
    current = version_for_slug(user=user, slug=bot.strategy)
    target = version_for_slug(user=user, slug=strategy)
    if current is None or target is None or target.script_id != current.script_id:
        _fail("strategy", _("Choose a version of the script this bot runs."))
    try:
        params = get_strategy(strategy).validate(bot.params)
    except StrategyError as exc:
        raise ValidationError({"params": [strategy_error_message(exc)]}) from None
    market = (bot.exchange_account.exchange, bot.symbol, bot.timeframe)
    levels = _own_levels(get_strategy(strategy), params, *market) or {}
    # A level the old version set and the new one does not goes back to the trader's risk profile (the bot's
    # own value was the old script's, not the trader's choice).
    try:
        old = get_strategy(bot.strategy)
        before = _own_levels(old, old.validate(bot.params), *market) or {}
    except (StrategyError, ValidationError):
        before = {}  # the old version no longer runs (why its owner moves the bot): its levels stay as they are
    profile = RiskProfile.objects.get_or_create(user=user)[0]
    for name in set(before) - set(levels):  # what the profile has not: none (one entry, no trail)
        levels[name] = PROFILE_LESS[name] if name in PROFILE_LESS else getattr(profile, name)
    bot.strategy, bot.params = strategy, params
    for name, value in levels.items():
        setattr(bot, name, value)
    bot.full_clean()
    bot.save(update_fields=["strategy", "params", *EXIT_FIELDS, "updated_at"])
    return bot


@transaction.atomic
def bot_sizes_set(*, user: Any, sizes: Mapping[int, Decimal]) -> list[Bot]:
    """New position sizes for some of the user's bots at once (the analytics page's capital split): each from 5 %
    to the risk profile's limit, in hundredths. All or nothing: one refused size saves none."""
    if not sizes:
        _fail("sizes", _("Send at least one bot's size."))
    bots = {b.pk: b for b in Bot.objects.select_for_update().filter(user=user, pk__in=list(sizes)).order_by("pk")}
    if len(bots) != len(sizes):
        from django.http import Http404

        raise Http404(_("No such bot."))
    limit = RiskProfile.objects.get_or_create(user=user)[0].position_size_pct
    errors: dict[str, list[str]] = {}
    for bot_id, raw in sizes.items():
        try:
            size = Decimal(str(raw))
        except ArithmeticError:
            size = Decimal("NaN")
        if not size.is_finite() or size != size.quantize(Decimal("0.01")) or not Decimal(5) <= size <= limit:
            errors[str(bot_id)] = [
                _("Position size must be from 5 to %(max)s %% (your risk profile's limit), in hundredths.")
                % {"max": limit}
            ]
            continue
        bots[bot_id].position_size_pct = size
    if errors:
        raise ValidationError({"sizes": [f"{bots[int(k)].name}: {v[0]}" for k, v in errors.items()]})
    for bot in bots.values():
        bot.save(update_fields=["position_size_pct", "updated_at"])
    notify(user, "bot_sizes", sizes={str(pk): str(bot.position_size_pct) for pk, bot in bots.items()})
    return list(bots.values())


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
            if not strategy_usable(user=bot.user, slug=bot.strategy):  # a marketplace subscription that ended
                raise ValidationError(
                    _("This bot's strategy is no longer yours to run: subscribe to it again in the marketplace.")
                )
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
    kind, data = _status_event(bot, status, reason or reason_code, reason_code, reason_data or {})
    notify(bot.user, kind, **data)
    return bot


LOSS_LIMIT_CODES = ("drawdown", "daily_loss")  # tick._risk_check's halts
ERROR_CODES = (  # tick._permanent_failure's and _transient_failure's halts, and a strategy that cannot run
    "keys_rejected", "keys_unusable", "keys_unreadable", "unknown_symbol", "insufficient_funds", "order_refused",
    "exchange_refused", "exchange_unavailable", "strategy_failed",
)  # fmt: skip


def _status_event(bot: Bot, status: str, reason: str, code: str, data: Mapping[str, Any]) -> tuple[str, dict]:
    """The user's event for a status change: a halt by a loss limit (``drawdown_halt``, with the figures) and a halt
    by an error (``bot_error``, with the error's text: the adapter's redacted message, never a key) have their own
    kinds; any other change is ``bot_status``."""
    if status == Bot.Status.HALTED and code in LOSS_LIMIT_CODES:
        figures = {key: data[key] for key in ("drawdown", "loss", "limit") if key in data}
        return "drawdown_halt", {"bot": bot.pk, "name": bot.name, "code": code, **figures}
    if status == Bot.Status.HALTED and code in ERROR_CODES:
        error = str(data.get("reason") or "")
        if code == "strategy_failed" and data.get("template"):
            error = labels.strategy_failure(dict(data))
        return "bot_error", {"bot": bot.pk, "name": bot.name, "code": code, "error": error[:300]}
    return "bot_status", {"bot": bot.pk, "status": status, "reason": reason}


def auto_trading_set(*, user: Any, enabled: bool) -> bool:
    """The per-user switch: off, no bot of this user places an order (protective orders stay)."""
    get_user_model().objects.filter(pk=user.pk).update(auto_trading=enabled)
    user.auto_trading = enabled
    notify(user, "auto_trading", enabled=enabled)
    return enabled


def bot_halt_for_strategy(*, bot: Bot, exc: StrategyError) -> None:
    """The bot's strategy failed on a closed candle (a Pine script over its step budget, a runtime error): halt
    it with the engine's sentence, kept as a template so each reader sees it in their language. A transient
    failure (the time budget on a busy worker) halts nothing: the bot keeps running."""
    if exc.transient:
        return
    log.warning("bot %s halted: its strategy failed (%s)", bot.pk, exc, extra={"bot_id": bot.pk})
    bot_set_status(
        bot=bot,
        status=Bot.Status.HALTED,
        reason_code="strategy_failed",
        reason_data={"template": exc.template, "params": _plain(exc.params)},
    )


def bots_halt_for_strategy(
    *, source: str, symbol: str, timeframe: str, slug: str, params: Any, exc: StrategyError
) -> int:
    """The running bots of one signal group (market, strategy, parameters) halted for a failed strategy; how many.
    The loop computes a group's signal once, so its bots are found again here (a failure is rare)."""
    if exc.transient:
        return 0
    wanted = dict(params)
    halted = 0
    candidates = Bot.objects.select_related("exchange_account").filter(
        status=Bot.Status.RUNNING, strategy=slug, timeframe=timeframe
    )
    for bot in candidates:
        same_market = (
            clock.data_exchange(bot.exchange_account.exchange) == source and clock.data_symbol(bot.symbol) == symbol
        )
        if same_market and dict(bot.params) == wanted:
            bot_halt_for_strategy(bot=bot, exc=exc)
            halted += 1
    return halted


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """Message parameters as JSON (a nested message stays a [template, params] pair)."""
    return {
        key: [value[0], _plain(value[1])] if isinstance(value, tuple) else value
        for key, value in params.items()
        if isinstance(value, str | int | float | tuple)
    }
