"""Capital across bots and Kelly sizing through the API, on real hourly candles with the market clock on replay:
backtested and live return series, the split inside the risk envelope, applying it, and nobody else's rows."""

import gzip
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.core.cache import cache

from accounts.models import ExchangeAccount, RiskProfile
from analytics import allocation, analysis
from market_data.services import candles_import_csv
from strategies import services as strategy_services
from tests.analytics.conftest import OHLCV
from trading import clock
from trading.bots import services as bot_services
from trading.models import Bot, EquitySnapshot, Order, Position, Trade

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 30, tzinfo=UTC)
ALLOCATE = "/api/v1/portfolio/allocation"
APPLY = "/api/v1/portfolio/allocation/apply"
KELLY = "/api/v1/portfolio/kelly"


def store_hours(tmp_path, coin: str) -> None:
    lines = gzip.decompress((OHLCV / f"binance_{coin}USDT_1h.csv.gz").read_bytes()).decode().splitlines()
    rows = [line for line in lines[1:] if "2024-01-01" <= line[:10] < "2024-06-30"]
    path = tmp_path / f"{coin}.csv"
    path.write_text("\n".join([lines[0], *rows]) + "\n")
    candles_import_csv(path=path, exchange="binance", symbol=f"{coin}/USDT", timeframe="1h")


@pytest.fixture
def market(db, tmp_path):
    store_hours(tmp_path, "BTC")
    store_hours(tmp_path, "ETH")
    clock.replay_start(start=NOW)
    cache.clear()


def paper(user, label="Paper") -> ExchangeAccount:
    return ExchangeAccount.objects.create(user=user, exchange="paper", label=label, paper_balance=Decimal(10000))


def bot(account, strategy, symbol, size="10") -> Bot:
    settings_ = bot_services.BotSettings(
        strategy=strategy, symbol=symbol, timeframe="1h", position_size_pct=Decimal(size)
    )
    return bot_services.bot_create(user=account.user, exchange_account=account, settings_=settings_)


@pytest.fixture
def alice_bots(alice, market):
    RiskProfile.objects.update_or_create(user=alice, defaults={"position_size_pct": Decimal(20)})
    account = paper(alice)
    return [
        bot(account, "ema_crossover", "BTC/USDT"),
        bot(account, "supertrend", "ETH/USDT", "15"),
        bot(account, "rsi_ema", "BTC/USDT", "5"),
    ]


def ids(bots):
    return [b.id for b in bots]


def test_the_split_keeps_the_total_inside_the_envelope_and_beats_the_current_one(alice_api, alice_bots):
    response = alice_api.post(ALLOCATE, {"bots": ids(alice_bots), "lookback_days": 180}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [row["source"] for row in body["bots"]] == ["backtest"] * 3  # created today: no live history yet
    suggested = [Decimal(row["suggested_size_pct"]) for row in body["bots"]]
    assert sum(suggested) == Decimal(30) and body["total_size_pct"] == "30.00"
    assert all(Decimal(5) <= s <= Decimal(20) for s in suggested)
    assert [row["current_size_pct"] for row in body["bots"]] == ["10.00", "15.00", "5.00"]
    assert body["suggested"]["sharpe_ratio"] >= body["current"]["sharpe_ratio"] - 1e-3
    least = alice_api.post(
        ALLOCATE, {"bots": ids(alice_bots), "lookback_days": 180, "optimization_method": "min_risk"}, format="json"
    ).json()
    assert least["suggested"]["expected_risk"] <= least["current"]["expected_risk"] + 1e-6


def test_apply_sets_the_sizes_all_or_nothing(alice_api, alice_bots, bob):
    first, second, third = alice_bots
    ok = alice_api.post(APPLY, {"sizes": {str(first.id): "12.50", str(third.id): "17.50"}}, format="json")
    assert ok.status_code == 200, ok.content
    assert [str(b.position_size_pct) for b in Bot.objects.filter(id__in=ids(alice_bots)).order_by("id")] == [
        "12.50", "15.00", "17.50"
    ]  # fmt: skip
    over = alice_api.post(APPLY, {"sizes": {str(first.id): "5", str(second.id): "20.01"}}, format="json")
    assert over.status_code == 400
    below = alice_api.post(APPLY, {"sizes": {str(first.id): "5", str(second.id): "4.99"}}, format="json")
    assert below.status_code == 400
    RiskProfile.objects.filter(user=first.user).update(position_size_pct=Decimal(10))
    profile = alice_api.post(APPLY, {"sizes": {str(first.id): "5", str(second.id): "12"}}, format="json")
    assert profile.status_code == 400 and "10" in profile.json()["error"]["message"]
    bobs = bot(paper(bob, "Bob"), "ema_crossover", "BTC/USDT")
    theirs = alice_api.post(APPLY, {"sizes": {str(first.id): "5", str(bobs.id): "5"}}, format="json")
    assert theirs.status_code == 404
    assert str(Bot.objects.get(id=first.id).position_size_pct) == "12.50"  # none of the refused calls saved
    assert str(Bot.objects.get(id=bobs.id).position_size_pct) == "10.00"


def test_nobody_else_s_bots_and_one_account_at_a_time(alice, alice_api, bob_api, alice_bots):
    assert bob_api.post(ALLOCATE, {"bots": ids(alice_bots)}, format="json").status_code == 404
    other = bot(paper(alice, "Second"), "ema_crossover", "ETH/USDT")
    mixed = alice_api.post(ALLOCATE, {"bots": [alice_bots[0].id, other.id]}, format="json")
    assert mixed.status_code == 400 and "one exchange account" in mixed.json()["error"]["message"]
    assert alice_api.post(ALLOCATE, {"bots": [alice_bots[0].id]}, format="json").status_code == 400


def closed_positions(b: Bot, returns: list[float], start: datetime) -> None:
    """Closed longs as the execution layer leaves them (amount and margin back to zero, the entry and exit
    fills as trades): 0.1 BTC bought at 10,000 with the bot's leverage, each closing at ``r`` on its margin."""
    for k, r in enumerate(returns):
        margin = Decimal(1000) / b.leverage
        opened, closed = start + timedelta(days=k), start + timedelta(days=k, hours=5)
        position = Position.objects.create(
            user=b.user, exchange_account=b.exchange_account, bot=b, symbol=b.symbol, side=Position.Side.LONG,
            status=Position.Status.CLOSED, amount=0, margin=0, leverage=b.leverage, entry_price=Decimal(10000),
            realized_pnl=(margin * Decimal(str(r))).quantize(Decimal("0.01")), opened_at=opened, closed_at=closed,
        )  # fmt: skip
        for side, time in (("buy", opened), ("sell", closed)):
            order = Order.objects.create(
                user=b.user, exchange_account=b.exchange_account, bot=b, position=position, symbol=b.symbol,
                side=side, type="market", purpose="entry" if side == "buy" else "exit", amount=Decimal("0.1"),
                client_order_id=f"t-{position.id}-{side}", status="filled", filled=Decimal("0.1"),
            )  # fmt: skip
            Trade.objects.create(
                user=b.user, exchange_account=b.exchange_account, order=order, position=position, bot=b,
                symbol=b.symbol, side=side, amount=Decimal("0.1"), price=Decimal(10000), time=time,
            )  # fmt: skip


def test_a_bot_with_live_history_uses_its_own_closed_positions(alice_api, alice_bots):
    first = alice_bots[0]
    start = NOW - timedelta(days=60)
    Bot.objects.filter(id=first.id).update(created_at=start - timedelta(days=1))
    EquitySnapshot.objects.create(exchange_account=first.exchange_account, time=start, balance=10000, equity=10000)
    closed_positions(first, [0.05, -0.02] * 20, start)
    first.refresh_from_db()
    series = allocation.items_series(user=first.user, bot_ids=ids(alice_bots), backtest_ids=[], days=60)
    assert [s.source for s in series] == ["live", "backtest", "backtest"]
    live = series[0].returns
    assert len(live) == 60 and live[0] == pytest.approx(50 / (10000 * 0.10)) and live[1] == pytest.approx(-0.02)
    # realised PnL that day over the account's equity times the bot's size: 1,000 × 5 % / (10,000 × 10 %)
    assert np.count_nonzero(live) == 40


def test_kelly_from_a_bots_closed_positions(alice_api, bob_api, alice_bots):
    first = alice_bots[0]
    closed_positions(first, [0.06, -0.02, 0.04, -0.03] * 5, NOW - timedelta(days=30))
    response = alice_api.post(KELLY, {"bot_id": first.id}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["trades"] == 20 and body["win_rate"] == 0.5
    assert body["avg_win"] == pytest.approx(0.05) and body["avg_loss"] == pytest.approx(0.025)
    assert body["kelly_fraction"] == pytest.approx(0.5 / 0.025 - 0.5 / 0.05)  # p/l - q/a = 10: ten times the equity
    assert body["recommended_fraction"] == 0.2 and body["capped_by_limit"]  # the profile's 20 % decides
    assert body["current_fraction"] == 0.1
    assert {c["key"] for c in body["choices"]} == {"full", "half", "quarter", "recommended", "current"}
    assert bob_api.post(KELLY, {"bot_id": first.id}, format="json").status_code == 404
    few = alice_api.post(KELLY, {"bot_id": alice_bots[1].id}, format="json")
    assert few.status_code == 400 and "at least 10 closed trades" in few.json()["error"]["message"]
    assert alice_api.post(KELLY, {}, format="json").status_code == 400


def test_kelly_from_a_finished_backtest(alice, alice_api, bob_api, market):
    run = strategy_services.backtest_run_create(
        user=alice,
        strategy="ema_crossover",
        params={},
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        risk=strategy_services.RiskSettings(stop_loss_pct=None, take_profit_pct=None),
    )
    assert bob_api.post(KELLY, {"backtest_id": run.id}, format="json").status_code == 404
    queued = alice_api.post(KELLY, {"backtest_id": run.id}, format="json")
    assert queued.status_code == 400 and "finished" in queued.json()["error"]["message"]
    strategy_services.backtest_run_execute(run_id=run.id)
    run.refresh_from_db()
    body = alice_api.post(KELLY, {"backtest_id": run.id, "kelly_multiplier": "0.25"}, format="json").json()
    trades = run.result["trades"]
    assert body["trades"] == len(trades)
    wins = [t["return_pct"] / 100 for t in trades if t["return_pct"] > 0]
    assert body["win_rate"] == pytest.approx(len(wins) / len(trades))
    assert body["kelly_multiplier"] == 0.25


def finished_run(user, strategy, start, end):
    run = strategy_services.backtest_run_create(
        user=user, strategy=strategy, params={}, exchange="binance", symbol="BTC/USDT", timeframe="1h",
        start=start, end=end,
    )  # fmt: skip
    strategy_services.backtest_run_execute(run_id=run.id)
    run.refresh_from_db()
    return run


def test_candidate_strategies_from_finished_backtests(alice, alice_api, bob_api, alice_bots):
    first = finished_run(alice, "ema_crossover", datetime(2024, 1, 1, tzinfo=UTC), NOW)
    second = finished_run(alice, "bb_rsi", datetime(2024, 1, 1, tzinfo=UTC), NOW)
    body = {"backtests": [first.id, second.id], "lookback_days": 150, "optimization_method": "min_risk"}
    response = alice_api.post(ALLOCATE, body, format="json")
    assert response.status_code == 200, response.content
    rows = response.json()["bots"]
    assert [(r["kind"], r["source"]) for r in rows] == [("backtest", "run"), ("backtest", "run")]
    assert sum(Decimal(r["suggested_size_pct"]) for r in rows) == Decimal(20)
    mixed = {
        "bots": [alice_bots[0].id],
        "backtests": [first.id],
        "lookback_days": 150,
        "optimization_method": "min_risk",
    }
    assert alice_api.post(ALLOCATE, mixed, format="json").status_code == 200
    assert bob_api.post(ALLOCATE, body, format="json").status_code == 404
    early = finished_run(alice, "ema_crossover", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))
    late = finished_run(alice, "ema_crossover", datetime(2024, 3, 1, tzinfo=UTC), NOW)
    apart = alice_api.post(ALLOCATE, {"backtests": [early.id, late.id]}, format="json")
    assert apart.status_code == 400 and "share fewer than 30 days" in apart.json()["error"]["message"]
    old = alice_api.post(ALLOCATE, {"bots": [alice_bots[0].id], "backtests": [early.id]}, format="json")
    assert old.status_code == 400 and "does not cover" in old.json()["error"]["message"]


def test_a_real_paper_round_trip_reads_as_its_return_on_margin(alice, alice_api, tmp_path):
    """A position opened and closed through the execution layer and the paper exchange (not rows made by hand):
    the Kelly reading of it is its realised PnL over the margin it put up."""
    from tests.trading.test_api import make_bot, open_position, paper_account, store_market

    store_market(tmp_path)
    account = paper_account(alice)
    b = make_bot(account, leverage=1)
    position = open_position(account, bot=b)
    margin = position.margin
    assert margin > 0
    assert alice_api.post(f"/api/v1/positions/{position.pk}/close/").status_code == 200
    position.refresh_from_db()
    assert position.status == Position.Status.CLOSED and position.margin == 0  # what the closed row keeps
    (found,) = analysis._closed_returns(Position.objects.filter(bot=b))
    assert found == pytest.approx(float(position.realized_pnl / margin), rel=1e-9)
