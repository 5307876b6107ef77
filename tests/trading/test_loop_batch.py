"""The loop's batch (``trading.bots.batch.shard_step``: the paper step and the bots' ticks in bulk, one shard)
writes exactly the rows of the per-bot path (``paper_step`` per account, then ``bot_tick`` per bot): the same
state is seeded twice — bots flat and holding with their stop loss and take profit resting, bots that trade on
the candle, one whose stop is hit by the new price, one whose drawdown halts it, one whose owner switched
auto-trading off, one whose signal is None, one that reverses, two sharing an account — and the Order,
OrderEvent, Trade, Position, EquitySnapshot, Bot and paper book rows are compared, ids and wall-clock times
aside."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.core.cache import cache

from accounts.models import ExchangeAccount, RiskProfile
from market_data.models import Candle
from tests.factories import UserFactory
from tests.trading.conftest import list_paper_markets
from trading import clock
from trading.bots import batch, batch_trades, loop, plain_ticks, sharding
from trading.bots import tick as ticks
from trading.exchanges.errors import TemporaryError
from trading.models import (
    Bot,
    EquitySnapshot,
    Order,
    OrderEvent,
    PaperOrder,
    PaperPosition,
    PaperWallet,
    Position,
    Trade,
)

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
C0 = datetime(2024, 1, 1, 9, tzinfo=UTC)  # the candle the seeded positions were opened on
C1 = datetime(2024, 1, 1, 10, tzinfo=UTC)  # the candle that just closed
NOW = C1 + HOUR
LONG = {"long_entry": True, "long_exit": False, "short_entry": False, "short_exit": False}
EXIT = {"long_entry": False, "long_exit": True, "short_entry": False, "short_exit": False}
NOTHING = dict.fromkeys(LONG, False)
REVERSE = {"long_entry": False, "long_exit": True, "short_entry": True, "short_exit": False}
SEED_PRICES = {"BTC/USDT": D(50000), "ETH/USDT": D(3000), "SOL/USDT": D(100)}
PRICES = {"BTC/USDT": D(48500), "ETH/USDT": D(3030), "SOL/USDT": D(101)}  # BTC −3 %, ETH +1 %, SOL +1 %

# name: (account, symbol, seeded long?, signal at C1, bot settings)
CASES: dict[str, tuple[str, str, bool, dict | None, dict[str, Any]]] = {
    "flat_nothing": ("a1", "ETH/USDT", False, NOTHING, {}),
    "holding_nothing": ("a2", "ETH/USDT", True, NOTHING, {}),
    "holding_nothing_btc": ("a3", "BTC/USDT", True, NOTHING, {"stop_loss_pct": D(5)}),
    "stop_hit": ("a4", "BTC/USDT", True, NOTHING, {"stop_loss_pct": D(1)}),
    "flat_enters": ("a5", "ETH/USDT", False, LONG, {}),
    "holding_exits": ("a6", "SOL/USDT", True, EXIT, {}),
    "drawdown_halts": ("a7", "BTC/USDT", True, NOTHING, {"leverage": 10, "position_size_pct": D(20),
                                                         "stop_loss_pct": D(5), "max_drawdown_pct": D(5)}),
    "auto_trading_off": ("a8", "ETH/USDT", False, LONG, {}),
    "no_signal": ("a9", "ETH/USDT", False, None, {}),
    "shared_holds": ("a10", "BTC/USDT", True, NOTHING, {"stop_loss_pct": D(5)}),
    "shared_enters": ("a10", "SOL/USDT", False, LONG, {}),
    "holding_long_enter_again": ("a11", "SOL/USDT", True, LONG, {}),
    "paused": ("a12", "ETH/USDT", False, LONG, {"status": Bot.Status.PAUSED}),
    "holding_new_day": ("a13", "ETH/USDT", True, NOTHING, {"day_start": date(2023, 12, 31)}),
    "daily_loss_halts": ("a14", "BTC/USDT", True, NOTHING, {"leverage": 10, "position_size_pct": D(20),
                                                           "stop_loss_pct": D(5), "max_drawdown_pct": D(50),
                                                           "daily_loss_limit_pct": D(2)}),
    "holding_reverses": ("a15", "SOL/USDT", True, REVERSE, {"direction": "both"}),
}  # fmt: skip


def pinned(when: datetime, prices: dict[str, D]):
    return clock.pinned(clock.Pin(time=when, price=lambda exchange, symbol: prices[symbol.split(":")[0]]))


@pytest.fixture
def listed(db):
    list_paper_markets(PRICES, C1)
    cache.clear()


def seed(prefix: str) -> dict[str, Bot]:
    """Users, paper accounts and bots; the holding ones opened a long on C0 (stop loss and take profit rest)."""
    accounts: dict[str, ExchangeAccount] = {}
    bots: dict[str, Bot] = {}
    for name, (label, symbol, _holding, _signal, settings) in CASES.items():
        if label not in accounts:
            user = UserFactory(email=f"{prefix}-{label}@example.com", auto_trading=True)
            RiskProfile.objects.update_or_create(user=user, defaults={"leverage": 10, "position_size_pct": D(20)})
            accounts[label] = ExchangeAccount.objects.create(
                user=user, exchange="paper", label=label, paper_balance=D(10000)
            )
        account = accounts[label]
        values = {
            "user": account.user, "exchange_account": account, "name": name, "strategy": "ema_crossover",
            "params": {"case": name}, "symbol": symbol, "timeframe": "1h", "leverage": 1,
            "position_size_pct": D(10), "stop_loss_pct": D(2), "take_profit_pct": D(4), "max_drawdown_pct": D(20),
            "status": Bot.Status.RUNNING,
        } | {k: v for k, v in settings.items() if k not in ("status", "day_start")}  # fmt: skip
        bots[name] = Bot.objects.create(**values)
    with pinned(C0 + HOUR, SEED_PRICES):
        for name, (_label, _symbol, holding, _signal, _settings) in CASES.items():
            if holding:
                assert ticks.bot_tick(bot_id=bots[name].pk, candle_open=C0, signal=LONG).outcome == "traded"
    for name, (_label, _symbol, _holding, _signal, settings) in CASES.items():
        later = {k: v for k, v in settings.items() if k in ("status", "day_start")}  # after the seeding trade
        if later:
            Bot.objects.filter(pk=bots[name].pk).update(**later)
    bots["auto_trading_off"].user.__class__.objects.filter(pk=bots["auto_trading_off"].user_id).update(
        auto_trading=False
    )
    return bots


def per_bot_path(bots: dict[str, Bot]) -> None:
    """What ``loop_step`` does with a task per bot: the paper step of every account, then ``bot_tick``."""
    with pinned(NOW, PRICES):
        running = loop.running_bots()
        by_market = {("binance", b.symbol, "1h"): [x for x in running if x.symbol == b.symbol] for b in running}
        loop._paper_step(NOW, by_market, loop.Candles(), None, None, loop.StepReport(now=NOW))
        for name, bot in sorted(bots.items(), key=lambda item: item[1].pk):
            signal = CASES[name][3]
            if signal is not None and bot.pk in {b.pk for b in running}:
                ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=signal)


def batch_path(bots: dict[str, Bot], *, seeded: bool = False, **options: Any) -> batch.ShardReport:
    """The shard; ``seeded``: with each market's candle and price read once for the tick by the signal tasks
    (``sharding.market_state``), as ``trading.loop_shard`` gets them."""
    signals = {
        sharding.group_key("binance", bot.symbol, "1h", bot.strategy, bot.params): CASES[name][3]
        for name, bot in bots.items()
    }
    with pinned(NOW, PRICES):
        candle_for, prices = sharding.candle_lookup(NOW), None
        if seeded:
            states = {f"binance|{symbol}": sharding.market_state("binance", symbol, NOW) for symbol in PRICES}
            assert all("price" in state for state in states.values())  # (no candle: the clock is not on replay)
            candle_for = sharding.seeded_candles(candle_for, states)
            prices = {key: D(state["price"]) for key, state in states.items()}
        return batch.shard_step(
            now=NOW, shard=0, shards=1, due={"1h": C1}, signals=signals, candle_for=candle_for, prices=prices,
            **options,
        )  # fmt: skip


def rows(prefix: str) -> dict[str, list[tuple]]:
    """Every row the loop writes for these users, ids and wall-clock times replaced by stable names."""
    accounts = {a.pk: a.label for a in ExchangeAccount.objects.filter(user__email__startswith=f"{prefix}-")}
    bot_names = {b.pk: b.name for b in Bot.objects.filter(exchange_account_id__in=accounts)}
    positions = {p.pk: (bot_names.get(p.bot_id), p.symbol, p.opened_at) for p in Position.objects.all()}
    orders = {o.pk: (bot_names.get(o.bot_id), o.purpose, o.symbol, o.created_at) for o in Order.objects.all()}
    names = {"exchange_account_id": accounts, "account_id": accounts, "bot_id": bot_names, "position_id": positions,
             "order_id": orders}  # fmt: skip
    dropped = {"id", "user_id", "updated_at", "last_tick_at", "client_order_id"}

    def table(model: Any, **filters: Any) -> list[tuple]:
        out = []
        skip = dropped | ({"created_at"} if model is Bot else set())  # a bot's created_at is the wall clock's
        for row in model.objects.filter(**filters).values():
            out.append(
                tuple(sorted((k, names[k].get(v) if k in names else v) for k, v in row.items() if k not in skip))
            )
        return sorted(out, key=repr)

    mine = {"exchange_account_id__in": list(accounts)}
    return {
        "bots": table(Bot, **mine),
        "orders": table(Order, **mine),
        "trades": table(Trade, **mine),
        "order_events": table(OrderEvent, order__exchange_account_id__in=list(accounts)),
        "positions": table(Position, **mine),
        "snapshots": table(EquitySnapshot, **mine),
        "wallets": table(PaperWallet, account_id__in=list(accounts)),
        "paper_orders": table(PaperOrder, account_id__in=list(accounts)),
        "paper_positions": table(PaperPosition, account_id__in=list(accounts)),
    }


def retire(prefix: str) -> None:
    """Take a finished scenario out of the loop's way (its rows stay for the comparison)."""
    ExchangeAccount.objects.filter(user__email__startswith=f"{prefix}-").update(enabled=False)


@pytest.mark.parametrize("seeded", [False, True], ids=["shard reads markets", "markets read once per tick"])
def test_the_batch_writes_the_rows_of_the_per_bot_path(listed, seeded):
    bots = seed("one")
    per_bot_path(bots)
    expected = rows("one")
    retire("one")

    bots = seed("two")
    report = batch_path(bots, chunk_size=4, seeded=seeded)  # several chunks
    got = rows("two")

    for name in expected:
        only_got = [row for row in got[name] if row not in expected[name]]
        only_expected = [row for row in expected[name] if row not in got[name]]
        assert only_got == only_expected == [], name
        assert got[name] == expected[name], name
    # the scenario covers what it says
    by_name = {row["name"]: row for row in Bot.objects.filter(name__in=CASES).values()}
    assert Bot.objects.get(pk=bots["drawdown_halts"].pk).status == Bot.Status.HALTED
    assert Bot.objects.get(pk=bots["daily_loss_halts"].pk).status_detail["code"] == "daily_loss"
    assert Bot.objects.get(pk=bots["holding_new_day"].pk).day_start == date(2024, 1, 1)
    assert Bot.objects.get(pk=bots["no_signal"].pk).last_candle_open is None
    assert Bot.objects.get(pk=bots["auto_trading_off"].pk).last_candle_open is None
    assert Trade.objects.filter(bot=bots["flat_enters"]).count() == 1
    assert Position.objects.get(bot=bots["stop_hit"]).exit_reason == "stop_loss"
    assert Position.objects.get(bot=bots["holding_exits"]).exit_reason == "signal"
    assert Bot.objects.get(pk=bots["holding_nothing"].pk).peak_equity > D(10000)
    assert Position.objects.get(bot=bots["holding_reverses"], status=Position.Status.OPEN).side == "short"
    assert by_name and report.claimed == 13 and report.per_bot >= 5 and not report.errors
    assert report.plain == 3  # flat_enters, holding_exits, holding_reverses: plain ticks, written in bulk


def test_a_redelivered_shard_skips_the_chunks_it_committed_and_trades_once(listed):
    bots = seed("one")
    done: set[int] = set()
    batch_path(bots, chunk_size=4, chunk_done=done.add)
    first = rows("one")
    report = batch_path(bots, chunk_size=4, chunk_is_done=done.__contains__)
    assert report.claimed == 0 and rows("one") == first
    # without the markers (the worker died between the commit and the marker) the paper step plays the same
    # time again (marks and snapshots at that time are rewritten) and no bot claims again: no second order
    report = batch_path(bots, chunk_size=4)
    again = rows("one")
    assert report.claimed == 0
    assert all(again[name] == first[name] for name in ("orders", "trades", "bots", "paper_orders", "wallets"))


def test_a_temporary_failure_releases_the_claim_and_hands_the_bot_to_its_own_task(listed, monkeypatch):
    bots = seed("one")
    sent: list[tuple] = []
    monkeypatch.setattr(
        batch_trades, "dispatch_task", lambda name, *args, **options: sent.append((name, args, options))
    )
    real = ticks.bot_act

    def flaky(bot, candle_open, signal, history_start=None, **kwargs):
        if bot.name == "shared_enters":  # (a shared account: the per-bot code)
            raise TemporaryError("the exchange timed out")
        return real(bot, candle_open, signal, history_start, **kwargs)

    monkeypatch.setattr(ticks, "bot_act", flaky)
    report = batch_path(bots)
    assert report.retried == 1
    assert [(name, args[0], args[1]) for name, args, _options in sent] == [
        ("trading.run_bot_tick", bots["shared_enters"].pk, C1.isoformat())
    ]
    assert sent[0][2]["queue"] == "trading.paper"
    bot = Bot.objects.get(pk=bots["shared_enters"].pk)
    assert bot.last_candle_open == C1 - timedelta(milliseconds=1)  # the task's claim succeeds
    assert not Order.objects.filter(bot=bot).exists()
    assert Trade.objects.filter(bot=bots["flat_enters"]).count() == 1  # the others went on


def test_a_bot_that_fails_after_its_fill_runs_again_from_the_stored_book(listed, monkeypatch):
    """The chunk keeps its paper books in memory for its bots; a tick that fails after its fill rolls back to its
    savepoint, so its account's book is read again: the careful run writes the per-bot path's rows."""
    from trading.execution import positions

    bots = seed("one")
    per_bot_path(bots)
    expected = rows("one")
    retire("one")

    bots = seed("two")
    real, failed = positions.protect, []

    def once(**kwargs):
        if kwargs["position"].bot_id == bots["shared_enters"].pk and not failed:
            failed.append(kwargs["position"].pk)
            raise RuntimeError("a bug after the entry filled")
        return real(**kwargs)

    monkeypatch.setattr(positions, "protect", once)
    report = batch_path(bots, chunk_size=4)
    got = rows("two")
    assert failed and report.retried == 0 and not report.errors
    assert not Position.objects.filter(pk=failed[0]).exists()  # the first run's position rolled back
    for name in expected:
        assert got[name] == expected[name], name


def test_a_market_read_once_per_tick_gives_each_shard_the_candle_and_price_it_would_read(db):
    """On the replay clock the signal task reads each market's closed candle and price once (``market_state``,
    JSON through the broker); a shard's lookup then gives what reading them itself gives, to the last digit."""
    from trading.bots import paper_market
    from trading.models import MarketClock

    Candle.objects.bulk_create(
        Candle(exchange="binance", symbol="BTC/USDT", timeframe="1h", open_time=C1 + HOUR * k, open=D("42000.17"),
               high=D("42999.99") + k, low=D("41000.01") - k, close=D("42500.5") + k, volume=1)
        for k in range(-2, 2)
    )  # fmt: skip
    MarketClock.objects.update_or_create(
        id=1, defaults={"mode": "replay", "timeframe": "1h", "cursor": NOW, "start": C1}
    )
    clock._forget()
    try:
        state = json.loads(json.dumps(sharding.market_state("binance", "BTC/USDT", NOW)))
        direct = sharding.candle_lookup(NOW)("binance", "BTC/USDT")
        seeded = sharding.seeded_candles(lambda source, symbol: pytest.fail("read again"), {"binance|BTC/USDT": state})
        candle, inside = seeded("binance", "BTC/USDT")
        assert direct is not None and candle["time"] == direct[0]["time"] == C1 and inside == direct[1] == []
        for name in ("open", "high", "low"):
            assert paper_market._dec(candle[name]) == paper_market._dec(direct[0][name])
        assert D(state["price"]) == clock.current_price("binance", "BTC/USDT") == D("42000.17")
    finally:
        MarketClock.objects.all().delete()
        clock._forget()


@pytest.mark.parametrize("broken", ["fill_closes", "fill_opens", "protective_request"])
def test_a_plain_tick_that_meets_the_unexpected_goes_through_the_per_bot_code(listed, monkeypatch, broken):
    """A plain tick (exit, entry, reversal) is sent on the chunk's book in memory and written in bulk; if anything
    goes wrong before its rows are written, its account's book is read again and the per-bot code does it: the
    same rows."""
    bots = seed("one")
    per_bot_path(bots)
    expected = rows("one")
    retire("one")

    bots = seed("two")

    def fails(*args, **kwargs):
        raise RuntimeError("a bug in the bulk path")

    monkeypatch.setattr(plain_ticks, broken, fails)
    report = batch_path(bots, chunk_size=4)
    got = rows("two")
    assert report.plain == {"fill_closes": 1, "fill_opens": 1, "protective_request": 1}[broken] and not report.errors
    for name in expected:
        assert got[name] == expected[name], name
