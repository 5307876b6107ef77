"""The loop's tick across Celery tasks (run eagerly here): planned once per candle close, signals in a chord,
live bots on their exchange's queue, paper accounts in shards; the LoopTick record, overruns reported."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from accounts.models import ExchangeAccount
from market_data.models import Candle
from trading import clock, tasks
from trading.bots import sharding
from trading.models import Bot, LoopTick

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
C1 = datetime(2024, 1, 1, 10, tzinfo=UTC)
NOW = C1 + HOUR


@pytest.fixture
def bots(alice, bob):
    Candle.objects.bulk_create(
        Candle(exchange="binance", symbol=s, timeframe="1h", open_time=C1 - HOUR * k, open=1, high=1, low=1, close=1,
               volume=1)
        for s in ("BTC/USDT", "ETH/USDT")
        for k in range(3)
    )  # fmt: skip
    made = []
    for user in (alice, bob):
        paper = ExchangeAccount.objects.create(user=user, exchange="paper", label="paper", paper_balance=D(1000))
        for n, symbol in enumerate(("BTC/USDT", "ETH/USDT")):
            made.append(
                Bot.objects.create(
                    user=user,
                    exchange_account=paper,
                    name=f"bot {n}",
                    strategy=("ema_crossover", "supertrend")[n],
                    symbol=symbol,
                    timeframe="1h",
                    status=Bot.Status.RUNNING,
                )
            )
    live = ExchangeAccount.objects.create(user=alice, exchange="binance", label="live")
    made.append(
        Bot.objects.create(
            user=alice,
            exchange_account=live,
            name="live",
            strategy="ema_crossover",
            symbol="BTC/USDT",
            timeframe="1h",
            status=Bot.Status.RUNNING,
        )
    )
    return made


def test_one_tick_per_candle_close_signals_once_per_group_shards_and_live_queues(
    bots, monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.TRENDY_LOOP_SHARDS = 3
    computed: list[str] = []
    real_signals = sharding.market_signals

    def counting(source, symbol, timeframe, opened, groups, candles=None):
        out = real_signals(source, symbol, timeframe, opened, groups, candles)
        computed.extend(out)
        return out

    monkeypatch.setattr(sharding, "market_signals", counting)
    sent = []
    real_enqueue = tasks.enqueue

    def enqueue(name, *args, **options):
        if name == "trading.run_bot_tick":
            sent.append((args[0], options.get("queue")))
            return None
        return real_enqueue(name, *args, **options)

    monkeypatch.setattr(tasks, "enqueue", enqueue)
    # tasks are sent when the transaction commits (the test's never does: its callbacks are run here)
    pin = clock.Pin(time=NOW, price=lambda exchange, symbol: D(1))
    with clock.pinned(pin), django_capture_on_commit_callbacks(execute=True):
        started = tasks.loop_start_now(NOW)
    with clock.pinned(pin):
        again = tasks.loop_start_now(NOW)
    assert started["bots"] == 5 and again == {"skipped": "already started"}
    # two paper groups and one live group share the BTC ema_crossover signal: three groups, each computed once
    assert sorted(computed) == sorted(set(computed)) and len(computed) == 2
    assert sent == [(bots[-1].pk, "trading.binance")]
    tick = LoopTick.objects.get(candle_time=NOW)
    assert tick.finished_at is not None and not tick.overran, tick.phases
    assert (tick.shards_total, tick.shards_done, sorted(tick.done_shards)) == (3, 3, [0, 1, 2])
    assert tick.bots == 4  # the paper bots claimed (the live one claims in its own task)
    assert {"coordinator", "shard_0", "shard_1", "shard_2"} <= set(tick.phases)
    assert set(Bot.objects.filter(exchange_account__exchange="paper").values_list("last_candle_open", flat=True)) == {
        C1
    }


def test_a_tick_still_running_when_the_next_candle_closes_is_reported(bots, caplog, client, settings):
    LoopTick.objects.create(candle_time=NOW, started_at=NOW, shards_total=8, shards_done=5)
    with caplog.at_level(logging.WARNING, logger="trading.bots.sharding"):
        assert sharding.tick_start(NOW + HOUR) is not None
    assert LoopTick.objects.get(candle_time=NOW).overran
    assert "still running when the candle of" in caplog.text and "5 of 8 shards done" in caplog.text
    settings.TRENDY_METRICS_TOKEN = "scrape-me"
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").content.decode()
    assert "trendy_loop_ticks_overran_total 1.0" in text
    assert "trendy_loop_ticks_running 2.0" in text  # the late one and the new one
    # a tick is reported once, and a tick never runs twice for the same candle close
    assert sharding.tick_overruns(NOW + 2 * HOUR) == 1  # only the new one now
    assert sharding.tick_start(NOW + HOUR) is None
