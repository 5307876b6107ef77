"""The Pine issue's done means, in Chromium: a trader pastes a Pine Script, sees its report, saves it, backtests it
on the same page as the built-ins (its inputs as form fields, the chart and metrics), and runs a paper bot from
it, which then trades under a real Celery worker with beat on the replay clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.models import ExchangeAccount
from market_data.services import candles_import_csv
from strategies.models import BacktestRun, PineScriptVersion
from tests.browser.conftest import SHOTS, wait_for
from tests.conftest import needs_postgres
from tests.factories import PASSWORD, UserFactory
from tests.strategies.conftest import BTC_1H
from trading import clock
from trading.models import Bot, Position

pytestmark = [pytest.mark.django_db(transaction=True), needs_postgres]

SCRIPT = """//@version=6
strategy("Browser EMA cross", overlay=true, initial_capital=10000)
fastLen = input.int(12, "Fast EMA", minval=2, maxval=100)
slowLen = input.int(26, "Slow EMA", minval=3, maxval=200)
fast = ta.ema(close, fastLen)
slow = ta.ema(close, slowLen)
if ta.crossover(fast, slow)
    strategy.entry("Long", strategy.long)
if ta.crossunder(fast, slow)
    strategy.close("Long")
plot(fast)
"""


def test_paste_backtest_and_run_a_paper_bot(page, worker):
    SHOTS.mkdir(parents=True, exist_ok=True)
    candles_import_csv(path=BTC_1H, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    # The same EMA cross as the built-in goes long within a day or two of this point (test_trading_browser).
    clock.replay_start(start=datetime(2024, 3, 2, 14, tzinfo=UTC), timeframe="1h", seconds_per_candle=Decimal(1))
    user = UserFactory(email="pine-trader@example.com")
    ExchangeAccount.objects.create(user=user, exchange="paper", label="Paper", paper_balance=Decimal(10000))
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)

    # Paste a script with a mistake: the report names the line; nothing is saved.
    page.goto("/strategies/")
    page.get_by_role("link", name="New Pine Script strategy").click()
    page.wait_for_url("**/strategies/pine/new/")
    page.fill(
        "textarea[name=source]",
        SCRIPT.replace("ta.ema(close, slowLen)", "request.security(syminfo.tickerid, 'D', close)"),
    )
    page.get_by_role("button", name="Check", exact=True).click()
    page.locator('[data-can-run="false"]').get_by_text("Line 6, column 8").wait_for()
    assert not PineScriptVersion.objects.exists()

    # The right script: it can run, its inputs are listed; save it.
    page.fill("textarea[name=source]", SCRIPT)
    page.get_by_role("button", name="Check", exact=True).click()
    page.locator('[data-can-run="true"]').wait_for()
    assert page.locator("#pine-report").get_by_text("fastLen").is_visible()
    page.screenshot(path=str(SHOTS / "pine-report.png"), full_page=True)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/strategies/pine/[0-9a-f-]+/$"))
    version = PineScriptVersion.objects.get(script__user=user)

    # Backtest it on the same page as the built-ins, with an input changed.
    page.locator("main").get_by_role("link", name="Backtest", exact=True).first.click()
    page.locator("input[name=param_fastLen]").wait_for()
    page.fill("input[name=param_fastLen]", "9")
    page.fill("input[name=start]", "2024-01-01")
    page.fill("input[name=end]", "2024-03-01")
    page.get_by_role("button", name="Run backtest").click()
    page.wait_for_url(re.compile(r"/strategies/backtests/\d+/$"))
    page.wait_for_selector("#trades-chart canvas", timeout=30_000)
    run = BacktestRun.objects.get(user=user)
    assert (run.strategy, run.params["fastLen"], run.status) == (version.slug, 9, "done")
    assert run.metrics["trades"] > 0 and page.locator(".metric-cards .metric").count() >= 8
    page.get_by_text("Browser EMA cross · v1").first.wait_for()
    page.screenshot(path=str(SHOTS / "pine-backtest.png"), full_page=True)

    # A paper bot from it, started at once.
    page.goto(f"/strategies/pine/{version.script_id}/")
    page.locator("main").get_by_role("link", name="Activate", exact=True).click()
    page.locator("input[name=param_slowLen]").wait_for()
    page.fill("input[name=symbol]", "BTC/USDT")
    page.select_option("select[name=timeframe]", "1h")
    page.check("input[name=start]")
    page.get_by_role("button", name="Create bot").click()
    page.wait_for_url(lambda url: "/trading/bots/" in url and "/new/" not in url)
    bot = Bot.objects.get(user=user)
    assert (bot.strategy, bot.status) == (version.slug, Bot.Status.RUNNING)
    page.get_by_text("Browser EMA cross · v1").first.wait_for()

    # The worker's loop runs the stored script on each closed candle and opens the position.
    position = wait_for(lambda: Position.objects.filter(bot=bot).first(), 120, "a position from the Pine bot", worker)
    assert position.side == "long" and position.opened_at > datetime(2024, 3, 2, 14, tzinfo=UTC)
    page.goto("/trading/positions/")
    page.locator(f"#position-{position.pk}").wait_for()
    page.screenshot(path=str(SHOTS / "pine-bot-position.png"), full_page=True)
