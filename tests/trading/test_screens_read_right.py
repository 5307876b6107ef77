"""The trading screens read right (issue 12): one clock for every event, fills as sentences in the reader's
language, one chart marker per candle, no raw identifiers, amounts with separators, currency and signs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.urls import reverse
from django.utils import translation

from accounts.models import ExchangeAccount
from market_data.services import candles_import_csv
from strategies.labels import strategy_name
from tests.strategies.conftest import BTC_1H
from trading import clock
from trading.bots import services as bot_services
from trading.dashboard.chart import _markers
from trading.dashboard.selectors import activity
from trading.execution import fills as fill_services
from trading.models import Bot, Order, OrderEvent, Position, Trade

pytestmark = pytest.mark.django_db
DASHBOARD = reverse("trading:dashboard")
NOW = datetime(2024, 3, 10, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def pinned():
    with clock.pinned(clock.Pin(time=NOW, price=lambda exchange, symbol: D(60_000))):
        yield


@pytest.fixture
def book(alice):
    account = ExchangeAccount.objects.create(user=alice, exchange="paper", label="Paper", paper_balance=D(10_000))
    bot = Bot.objects.create(
        user=alice, exchange_account=account, name="My bot", strategy="ema_crossover", symbol="BTC/USDT",
        timeframe="1h", status=Bot.Status.RUNNING,
    )  # fmt: skip
    return account, bot


def _order(account, bot, *, side, purpose, key, type_="market"):
    return Order.objects.create(
        user=account.user, exchange_account=account, bot=bot, symbol="BTC/USDT", side=side, type=type_,
        purpose=purpose, amount=D("0.01"), client_order_id=key, status="open",
    )  # fmt: skip


def test_a_fill_is_shown_at_its_own_market_time_everywhere(alice, alice_client, book, pinned):
    """On the replay clock a stop found on the candle that opened at 10:00 is recorded when the 12:00 tick runs:
    the order's history, the trade, the position, the feed and the chart all say 10:00, never the tick's time."""
    account, bot = book
    entry = _order(account, bot, side="buy", purpose="entry", key="e1")
    fill_services.fill_record(
        order=entry, price=D(60_000), amount=D("0.01"), fee=D("0.6"), time=NOW - 3 * HOUR, reason="market"
    )
    stop = _order(account, bot, side="sell", purpose="stop_loss", key="s1", type_="stop_market")
    stop_time = NOW - 2 * HOUR
    fill_services.fill_record(
        order=stop, price=D(58_800), amount=D("0.01"), fee=D("0.59"), time=stop_time, reason="stop_loss"
    )

    event = OrderEvent.objects.get(order=stop, kind="filled")
    trade = Trade.objects.get(order=stop)
    position = Position.objects.get(pk=trade.position_id)
    assert event.time == trade.time == position.closed_at == stop_time  # not clock.now() (12:00)
    items = activity(user=alice)
    assert items[0].time == stop_time
    assert items[0].text == "Stop loss filled: sold 0.01 BTC at 58,800.00 USDT"

    alice.timezone = "Asia/Seoul"
    alice.save(update_fields=["timezone"])
    html = alice_client.get(DASHBOARD).content.decode()
    assert html.count("10 Mar 2024, 19:00 KST") >= 1  # 10:00 UTC in Seoul, named
    positions = alice_client.get(reverse("trading:positions")).content.decode()
    assert "10 Mar 2024, 19:00 KST" in positions  # the trade's row says the same time
    assert "stop_market" not in positions and "stop_loss" not in positions


def test_fills_on_one_candle_share_one_marker_with_the_list(book):
    account, bot = book
    candle = datetime(2024, 3, 10, 9, tzinfo=UTC)
    exit_ = _order(account, bot, side="sell", purpose="exit", key="x")
    again = _order(account, bot, side="buy", purpose="entry", key="y")
    fills = [
        Trade(order=exit_, symbol="BTC/USDT", side="sell", amount=D("0.01"), price=D(61_000), realized_pnl=D("9.5"),
              time=candle),
        Trade(order=again, symbol="BTC/USDT", side="buy", amount=D("0.02"), price=D("61010.5"), realized_pnl=D(0),
              time=candle + timedelta(minutes=30)),
        Trade(order=exit_, symbol="BTC/USDT", side="sell", amount=D("0.02"), price=D(62_000), realized_pnl=D(-3),
              time=candle + 2 * HOUR),
    ]  # fmt: skip
    with translation.override("en"):
        markers, texts = _markers(fills, HOUR)
    assert len(markers) == 2
    both, single = markers
    assert both["text"] == "2 fills" and both["shape"] == "circle"
    assert single["text"] == "Sell" and single["shape"] == "arrowDown"
    assert texts[both["time"]] == [
        "Exit filled: sold 0.01 BTC at 61,000.00 USDT · PnL +9.50 USDT",
        "Entry filled: bought 0.02 BTC at 61,010.50 USDT",
    ]
    with translation.override("ko"):
        markers, texts = _markers(fills, HOUR)
    assert markers[0]["text"] == "체결 2건" and markers[1]["text"] == "매도"
    assert texts[markers[1]["time"]] == ["청산 체결: 0.02 BTC 매도, 가격 62,000.00 USDT · 손익 −3.00 USDT"]


def test_the_dashboard_reads_right_in_both_languages(alice, alice_client, book, pinned):
    candles_import_csv(path=BTC_1H, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    account, bot = book
    entry = _order(account, bot, side="buy", purpose="entry", key="e1")
    fill_services.fill_record(
        order=entry, price=D("61234.5"), amount=D("0.01"), fee=D("0.61"), time=NOW - HOUR, reason="market"
    )
    Bot.objects.filter(pk=bot.pk).update(
        status=Bot.Status.HALTED,
        status_detail={"code": "daily_loss", "loss": "6.02", "limit": "5"},
        status_changed_at=NOW,
    )
    html = alice_client.get(DASHBOARD).content.decode()
    assert "Indicator vote" in html and "AI analysis" not in html
    assert "10,000.00 USDT" in html  # the balance, grouped, with its currency
    assert "Entry filled: bought 0.01 BTC at 61,234.50 USDT" in html
    assert "Today&#x27;s loss of 6.0% is beyond the bot&#x27;s daily limit of 5.0%." in html
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", _text(html))

    alice_client.cookies["django_language"] = "ko"
    html = alice_client.get(DASHBOARD).content.decode()
    assert "지표 투표" in html
    assert "진입 체결: 0.01 BTC 매수, 가격 61,234.50 USDT" in html
    assert "오늘 손실 6.0%이(가) 봇의 일일 한도 5.0%를 넘었습니다." in html
    for english in ("Entry filled", "bought", "Long", "Flat", "Dec", "Mar"):
        assert english not in _text(html), english


def _text(html: str) -> str:
    """The page's visible text, roughly: no tags, scripts, JSON data, or what the trader typed (translate=no)."""
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r'<([a-z0-9]+)[^>]*translate="no"[^>]*>.*?</\1>', " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_the_replay_stops_at_the_end_of_the_stored_candles_and_says_so(alice_client, tmp_path):
    rows = ["timestamp,open,high,low,close,volume"] + [
        f"2024-12-31T{h:02d}:00:00Z,100,101,99,100.5,1" for h in range(20, 24)
    ]
    path = tmp_path / "tail.csv"
    path.write_text("\n".join(rows) + "\n")
    candles_import_csv(path=path, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    last_close = datetime(2025, 1, 1, tzinfo=UTC)
    clock.replay_start(start=last_close - 2 * HOUR, timeframe="1h")
    clock._forget()
    assert clock.replay_advance(expected=last_close - 2 * HOUR) == last_close - HOUR
    assert clock.replay_advance(expected=last_close - HOUR) == last_close
    assert clock.replay_advance(expected=last_close) is None  # no candle to trade on past the last one
    clock._forget()
    assert clock.now() == last_close and clock.replay_at_end()
    html = alice_client.get(reverse("trading:bots")).content.decode()
    assert "the end of the stored candles — the replay has stopped here" in html


def test_a_wizard_left_half_way_can_be_resumed_from_the_dashboard(alice, alice_client, book):
    from onboarding.models import OnboardingState

    OnboardingState.objects.create(user=alice, step=3)
    html = alice_client.get(DASHBOARD).content.decode()
    assert 'href="/onboarding/3/"' in html and "Resume the guided setup (step 3 of 5)" in html
    OnboardingState.objects.filter(user=alice).update(completed_at=NOW)
    assert "Resume the guided setup" not in alice_client.get(DASHBOARD).content.decode()


def test_strategy_names_follow_the_readers_language(alice_client):
    from strategies.builtin import REGISTRY
    from strategies.serializers import strategy_payload

    with translation.override("ko"):
        assert strategy_payload(REGISTRY["ema_crossover"])["name"] == "EMA 크로스오버"
        assert bot_services.BotSettings and strategy_name("ichimoku_cloud") == "일목균형표"
    alice_client.cookies["django_language"] = "ko"
    html = alice_client.get(reverse("trading:bot-new")).content.decode()
    assert "EMA 크로스오버" in html and "EMA crossover" not in html
