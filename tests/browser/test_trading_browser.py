"""The trading issue's done means, in Chromium: a paper bot created in the browser trades on its own under a
real Celery worker with beat (a separate process, on the replay clock), its position and PnL update on the
page, the trader closes it and turns auto-trading off."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from market_data.services import candles_import_csv
from tests.browser.conftest import SHOTS, wait_for
from tests.conftest import needs_postgres
from tests.factories import PASSWORD, UserFactory
from tests.strategies.conftest import BTC_1H
from trading import clock
from trading.models import Bot, Order, Position

pytestmark = [pytest.mark.django_db(transaction=True), needs_postgres]


def test_paper_bot_trades_under_worker_and_beat(page, worker):
    SHOTS.mkdir(parents=True, exist_ok=True)
    candles_import_csv(path=BTC_1H, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    # EMA crossover goes long within a day or two of this point.
    clock.replay_start(start=datetime(2024, 3, 2, 14, tzinfo=UTC), timeframe="1h", seconds_per_candle=Decimal(1))
    user = UserFactory(email="bot-trader@example.com")
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.get_by_text("Replay").first.wait_for()  # the replay date is on every page

    # An exchange account: the paper exchange with 10,000 USDT.
    page.goto("/trading/keys/")
    page.select_option("select[name=exchange]", "paper")
    page.fill("input[name=label]", "Paper")
    page.get_by_role("button", name="Add account").click()
    page.locator("#exchange-accounts-body").get_by_text("Paper").first.wait_for()
    page.screenshot(path=str(SHOTS / "trading-keys.png"), full_page=True)

    # A bot from the EMA crossover strategy, started at once.
    page.goto("/trading/bots/new/?strategy=ema_crossover")
    page.fill("input[name=symbol]", "BTC/USDT")
    page.select_option("select[name=timeframe]", "1h")
    page.check("input[name=start]")
    page.get_by_role("button", name="Create bot").click()
    page.wait_for_url(lambda url: "/trading/bots/" in url and "/new/" not in url)
    bot = Bot.objects.get(user=user)
    assert bot.status == Bot.Status.RUNNING and bot.strategy == "ema_crossover"
    page.screenshot(path=str(SHOTS / "trading-bots.png"), full_page=True)

    # Beat moves the replay a candle a second; the worker's loop and bot tasks open the position.
    position = wait_for(
        lambda: Position.objects.filter(bot=bot, status=Position.Status.OPEN).first(), 90, "an open position", worker
    )
    assert position.side == "long" and position.opened_at > datetime(2024, 3, 2, 14, tzinfo=UTC)
    entry = Order.objects.get(position=position, purpose=Order.Purpose.ENTRY)
    assert entry.status == Order.Status.FILLED and entry.source == Order.Source.BOT
    # Its stop loss and take profit rest on the (paper) exchange.
    assert set(Order.objects.filter(position=position, status=Order.Status.OPEN).values_list("purpose", flat=True)) == {
        Order.Purpose.STOP_LOSS,
        Order.Purpose.TAKE_PROFIT,
    }

    page.goto("/trading/positions/")
    row = page.locator(f"#position-{position.pk}")
    row.wait_for()
    pnl_cell = row.locator("td").nth(5)
    first = pnl_cell.inner_text()
    # The table refreshes itself (htmx, every 5 s) while the replay moves the mark price.
    wait_for(lambda: pnl_cell.inner_text() != first, 30, "the unrealised PnL to change on the page", worker)
    page.screenshot(path=str(SHOTS / "trading-positions.png"), full_page=True)

    # Close it now (confirm), then switch auto-trading off.
    Position.objects.filter(pk=position.pk).update()  # no-op: the position may have hit SL/TP meanwhile
    if Position.objects.get(pk=position.pk).status == Position.Status.OPEN:
        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Close").click()
        wait_for(lambda: Position.objects.get(pk=position.pk).status == Position.Status.CLOSED, 30, "the close", worker)
        assert Position.objects.get(pk=position.pk).exit_reason in ("manual", "stop_loss", "take_profit")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#auto-trading-switch button").click()
    wait_for(lambda: not type(user).objects.get(pk=user.pk).auto_trading, 15, "auto-trading off", worker)
    page.screenshot(path=str(SHOTS / "trading-auto-off.png"), full_page=True)
    # Nothing opens any more: the bot's claims stop while the switch is off.
    count = Position.objects.filter(bot=bot).count()
    time.sleep(4)
    assert Position.objects.filter(bot=bot, status=Position.Status.OPEN).count() == 0
    assert Position.objects.filter(bot=bot).count() == count
