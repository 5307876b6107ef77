"""The loop tick split across Celery workers: the plan (which bots are due, their markets and signal groups),
the signals of a slice of markets, the queue of each exchange, and the ``LoopTick`` record of each candle
close (started, shards done, finished, overran).

The tasks (``trading.tasks``) chain them: ``trading.tick`` plans and sends a chord whose header computes the
signals, a slice of markets per task, each (market, timeframe, strategy, parameters) group once; its body
(``trading.loop_dispatch``) sends the live bots their ``run_bot_tick`` on their exchange's queue and the paper
accounts' shards (``trading.loop_shard``, ``trading.bots.batch``) on ``trading.paper``; the last shard to finish
closes the ``LoopTick``."""

from __future__ import annotations

import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from market_data.timeframes import TIMEFRAME_MS
from strategies.builtin import get_strategy
from strategies.interface import StrategyError
from trading import clock
from trading.bots import services as bot_services
from trading.bots import tick as ticks
from trading.bots.loop import Candles, closed_candle_open
from trading.exchanges.errors import ExchangeError
from trading.models import Bot, LoopTick
from trading_site import metrics

log = logging.getLogger(__name__)


def group_key(source: str, symbol: str, timeframe: str, strategy: str, params: Mapping[str, Any]) -> str:
    """One signal per (data exchange, market, timeframe, strategy, parameters): its key, as JSON sends it."""
    return "|".join((source, symbol, timeframe, strategy, json.dumps(params, sort_keys=True, separators=(",", ":"))))


@dataclass
class Plan:
    now: datetime
    due: dict[str, datetime] = field(default_factory=dict)  # timeframe → open of the candle that closed
    markets: dict[tuple[str, str, str], dict[str, tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    live: list[tuple[int, str, str, str]] = field(default_factory=list)  # (bot, exchange, signal key, candle open)
    paper_keys: set[str] = field(default_factory=set)
    bots: int = 0


def plan(now: datetime) -> Plan:
    """The running bots whose timeframe has a candle closing at ``now``, as values: their markets and groups."""
    out = Plan(now=now)
    rows = (
        Bot.objects.filter(status=Bot.Status.RUNNING, user__auto_trading=True, exchange_account__enabled=True)
        .order_by("id")
        .values_list("id", "exchange_account__exchange", "symbol", "timeframe", "strategy", "params")
    )
    skipped: set[str] = set()
    groups: dict[tuple[str, str, str], dict[str, tuple[str, dict[str, Any]]]] = defaultdict(dict)
    for bot_id, exchange, symbol, timeframe, strategy, params in rows:
        if timeframe not in out.due:
            if timeframe in skipped:
                continue
            opened = closed_candle_open(now, timeframe)
            if opened is None:
                skipped.add(timeframe)
                continue
            out.due[timeframe] = opened
        source, data_symbol = clock.data_exchange(exchange), clock.data_symbol(symbol)
        key = group_key(source, data_symbol, timeframe, strategy, params)
        groups[(source, data_symbol, timeframe)][key] = (strategy, params)
        out.bots += 1
        if exchange == "paper":
            out.paper_keys.add(key)
        else:
            out.live.append((bot_id, exchange, key, out.due[timeframe].isoformat()))
    out.markets = dict(groups)
    return out


def slices(markets: Mapping[tuple[str, str, str], Any], count: int) -> list[list[Any]]:
    """The markets in ``count`` slices of about the same number of groups, as JSON for the signal tasks."""
    parts: list[list[Any]] = [[] for _ in range(max(1, min(count, len(markets))))]
    weights = [0] * len(parts)
    for (source, symbol, timeframe), groups in sorted(markets.items(), key=lambda item: -len(item[1])):
        k = weights.index(min(weights))
        parts[k].append([source, symbol, timeframe, [[slug, params] for slug, params in groups.values()]])
        weights[k] += len(groups)
    return [part for part in parts if part]


def market_signals(
    source: str, symbol: str, timeframe: str, opened: datetime, groups: list[Any], candles: Candles | None = None
) -> dict[str, dict[str, bool] | None]:
    """The signals of one market's groups on the candle that opened at ``opened``, from one candle window
    (the longest lookback of the groups), each as ``loop_step`` computes it."""
    candles = candles or Candles()
    step = timedelta(milliseconds=TIMEFRAME_MS[timeframe])
    longest = max(get_strategy(s).lookback(get_strategy(s).validate(dict(p))) for s, p in groups)
    window = candles.window(source, symbol, timeframe, opened - step * (longest - 1), opened + step)
    out: dict[str, dict[str, bool] | None] = {}
    for slug, params in groups:
        strategy = get_strategy(slug)
        clean = strategy.validate(dict(params))
        key = group_key(source, symbol, timeframe, slug, params)
        try:
            out[key] = ticks.signal_from_candles(slug, clean, window.iloc[-strategy.lookback(clean) :], opened)
        except StrategyError as exc:
            # A script that cannot run on this candle fails the same way on the next: its bots halt with the
            # reason (not when only the time budget ran out on a busy worker: those bots run on).
            log.warning("strategy failed: %s", exc, extra={"strategy": slug, "symbol": symbol})
            bot_services.bots_halt_for_strategy(
                source=source, symbol=symbol, timeframe=timeframe, slug=slug, params=params, exc=exc
            )
            out[key] = None
        except Exception:
            log.exception("signal failed", extra={"strategy": slug, "symbol": symbol})
            out[key] = None
    return out


def candle_lookup(now: datetime, candles: Candles | None = None) -> Callable[[str, str], Any]:
    """``loop._paper_step``'s candle for a market (the closed candle on the replay clock, none live), read once
    per market and shard."""
    candles = candles or Candles()
    state = clock.clock()
    seen: dict[tuple[str, str], Any] = {}

    def candle_for(source: str, symbol: str) -> Any:
        data_symbol = clock.data_symbol(symbol)
        if (source, data_symbol) in seen:
            return seen[(source, data_symbol)]
        timeframe = next((tf for (ex, sym, tf) in candles.frames if ex == source and sym == data_symbol), None)
        timeframe = timeframe or (state.timeframe if clock.is_replay() else None)
        found = None
        if timeframe is not None:
            step = timedelta(milliseconds=TIMEFRAME_MS[timeframe])
            bar = candles.window(source, data_symbol, timeframe, now - step, now)
            if len(bar) and bar.index[-1] == now - step:
                row = bar.iloc[-1]
                found = (
                    {"time": now - step, "open": row["open"], "high": row["high"], "low": row["low"]},
                    [],
                )
        seen[(source, data_symbol)] = found
        return found

    return candle_for


def market_state(source: str, symbol: str, now: datetime) -> dict[str, Any]:
    """What every shard's paper step reads of a market at the close ``now`` — its closed candle
    (``candle_lookup``) and its current price (``clock.current_price``) — read once per tick by the signal task
    of the market, as JSON, instead of once per shard. A price that cannot be read is left out (each shard then
    reads it, and reports the error, as without this)."""
    found = candle_lookup(now)(source, symbol)
    state: dict[str, Any] = {"candle": None}
    if found is not None:
        candle = found[0]
        state["candle"] = {"time": candle["time"].isoformat(), **{k: float(candle[k]) for k in ("open", "high", "low")}}
    with contextlib.suppress(ExchangeError):
        state["price"] = str(clock.current_price(source, symbol))
    return state


def seeded_candles(candle_for: Callable[[str, str], Any], states: Mapping[str, Any]) -> Callable[[str, str], Any]:
    """``candle_for`` answering from the tick's market states first (``market_state``, keyed "source|symbol")."""

    def lookup(source: str, symbol: str) -> Any:
        state = states.get(f"{source}|{clock.data_symbol(symbol)}")
        if state is None:
            return candle_for(source, symbol)
        candle = state["candle"]
        if candle is None:
            return None
        return ({**candle, "time": datetime.fromisoformat(candle["time"])}, [])

    return lookup


# --- the LoopTick record ----------------------------------------------------------------------------------------


def tick_start(now: datetime) -> LoopTick | None:
    """The record of this candle close, or None when it was started before (never run twice). Earlier ticks
    still running are reported as overrun first."""
    tick_overruns(now)
    tick, created = LoopTick.objects.get_or_create(candle_time=now, defaults={"started_at": timezone.now()})
    if not created:
        log.info("loop tick %s already started at %s: not run again", now, tick.started_at)
        return None
    if not clock.is_replay():  # on the replay clock a candle's close is not a moment of the wall clock
        metrics.TICK_LAG.observe(max(0.0, (tick.started_at - now).total_seconds()))
    return tick


def tick_overruns(now: datetime) -> int:
    """Ticks of earlier candles still running when the candle ``now`` closes: flagged, logged as a warning (the
    admin lists them; ``/metrics`` counts them)."""
    late = list(LoopTick.objects.filter(candle_time__lt=now, finished_at__isnull=True, overran=False))
    for tick in late:
        log.warning(
            "loop tick %s still running when the candle of %s closed (%d of %d shards done)",
            tick.candle_time, now, tick.shards_done, tick.shards_total,
            extra={"loop_tick": tick.candle_time.isoformat()},
        )  # fmt: skip
    if late:
        LoopTick.objects.filter(pk__in=[t.pk for t in late]).update(overran=True)
    return len(late)


def tick_phase(tick_id: int, name: str, value: Any, *, shards: int | None = None) -> None:
    with transaction.atomic():
        tick = LoopTick.objects.select_for_update().get(pk=tick_id)
        tick.phases[name] = value
        fields = ["phases"]
        if shards is not None:
            tick.shards_total = shards
            fields.append("shards_total")
            if shards == 0:
                tick.finished_at = timezone.now()
                fields.append("finished_at")
        tick.save(update_fields=fields)
    if "finished_at" in fields:
        _tick_finished(tick)


def tick_shard_done(tick_id: int, shard: int, phases: Mapping[str, Any], bots: int) -> bool:
    """Count a finished shard once (a redelivered shard is not counted twice); the last one closes the tick."""
    with transaction.atomic():
        tick = LoopTick.objects.select_for_update().get(pk=tick_id)
        if shard in tick.done_shards:
            return tick.finished_at is not None
        tick.done_shards = [*tick.done_shards, shard]
        tick.shards_done = len(tick.done_shards)
        tick.bots += bots
        tick.phases[f"shard_{shard}"] = dict(phases)
        if tick.shards_done >= tick.shards_total:
            tick.finished_at = timezone.now()
        tick.save(update_fields=["done_shards", "shards_done", "bots", "phases", "finished_at"])
    if tick.finished_at is not None:
        _tick_finished(tick)
    return tick.finished_at is not None


def _tick_finished(tick: LoopTick) -> None:
    metrics.TICK_DURATION.observe((tick.finished_at - tick.started_at).total_seconds())
