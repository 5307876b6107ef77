"""The trader's screens (issue 6), in Chromium: a new trader signs up, onboards on the paper exchange and
watches the first bot trade under a real worker; the webhooks test tool. No page may reach another host (the
``page`` fixture aborts and counts it)."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from accounts import services as account_services
from accounts.models import ExchangeAccount, RiskProfile, User
from market_data.services import candles_import_csv
from onboarding.models import OnboardingState
from strategies.models import BacktestRun
from tests.browser.conftest import SHOTS, wait_for
from tests.conftest import needs_postgres
from tests.factories import PASSWORD, UserFactory
from tests.strategies.conftest import BTC_1H
from trading import clock
from trading.models import Bot, MarketClock, Order, Position, Trade
from trading_site import display
from trading_site.celery import app as celery_app
from webhooks import services as webhook_services
from webhooks.models import WebhookEndpoint, WebhookEvent

pytestmark = [pytest.mark.django_db(transaction=True), needs_postgres]
# EMA crossover (12/26) goes long on the candle of 2024-03-03 13:00, six candles after this point; with a
# 10 % take profit the position then stays open for about 35 candles (seconds, on the replay clock).
REPLAY_START = datetime(2024, 3, 3, 8, tzinfo=UTC)
NEW_PASSWORD = "a-long-Passphrase-77"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def btc_1h_slice(tmp_path_factory) -> Path:
    """December 2023 to March 2024 of the real BTC/USDT 1h candles: the bot's 300-candle lookback before the
    replay, and every strategy's warm-up for the backtests, in a few seconds' import."""
    with gzip.open(BTC_1H, "rt") as source:
        lines = source.read().splitlines()
    rows = [line for line in lines[1:] if "2023-12-01" <= line[:10] < "2024-04-01"]
    path = tmp_path_factory.mktemp("ohlcv") / "btc_1h_2023-12_2024-03.csv"
    path.write_text("\n".join([lines[0], *rows]) + "\n")
    return path


@pytest.fixture
def market(btc_1h_slice):
    """Stored candles and the replay clock: the paper exchange fills at the replayed prices (no network)."""
    candles_import_csv(path=btc_1h_slice, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    clock.replay_start(start=REPLAY_START, timeframe="1h", seconds_per_candle=Decimal(1))


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def wizard_submit(page, text: str) -> None:
    """Click a wizard button and wait for htmx to swap the answer in and settle it: htmx binds the new step's
    live fields (the explanation's ``input`` trigger) only when it settles, a few milliseconds after the pushed
    URL, so a field filled in between would change nothing. A full page load instead (no ``__settled``) ends
    the wait too."""
    page.evaluate(
        "() => { window.__settled = false;"
        " document.body.addEventListener('htmx:afterSettle', () => { window.__settled = true; }, {once: true}); }"
    )
    with page.expect_response(lambda r: "/onboarding/" in r.url and r.request.method == "POST") as answer:
        page.locator("#wizard button[type=submit]", has_text=text).first.click()
    assert answer.value.status == 200, answer.value.text()[:2000]
    page.wait_for_function("() => window.__settled !== false")


# --- 1. sign up, onboard on paper, watch the first bot trade -------------------------------------------------


def test_new_trader_signs_up_onboards_on_paper_and_trades(page, market, worker, mailoutbox):
    # Sign up through allauth's form and confirm the e-mail address with the link it sent.
    page.goto("/")
    shot(page, "screens-01-home")
    page.get_by_role("link", name="Create an account").click()
    page.fill("input[name=email]", "new-trader@example.com")
    page.fill("input[name=password1]", NEW_PASSWORD)
    page.fill("input[name=password2]", NEW_PASSWORD)
    shot(page, "screens-02-signup")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/accounts/confirm-email/"))
    assert mailoutbox[-1].subject.startswith("[Trendy] ") and "Hello from Trendy," in mailoutbox[-1].body
    link = re.search(r"http://[^/\s]+(/accounts/confirm-email/\S+)", mailoutbox[-1].body).group(1)
    page.goto(link)
    page.locator("form button[type=submit]").last.click()

    # Signed in, straight into the wizard (not an empty dashboard), with auto-trading off.
    page.wait_for_url(re.compile(r"/onboarding/1/$"))
    user = User.objects.get(email="new-trader@example.com")
    assert page.locator(".user-email").text_content() == user.email
    assert user.emailaddress_set.get().verified and user.auto_trading is False
    page.locator("#auto-trading-switch").get_by_text("Auto-trading off").wait_for()

    # 1. First the choice, paper or an exchange; no key fields and no warning before one is checked.
    assert page.locator("#wizard [aria-current=step]").inner_text().startswith("1.")
    assert page.locator("#wizard input[name=api_key]").count() == 0
    assert page.locator("#wizard .message-warning").count() == 0
    shot(page, "screens-03-onboarding-choice")
    with page.expect_response(lambda r: "/onboarding/1/?kind=paper" in r.url):
        page.locator("#wizard a.wizard-kind", has_text="Paper trading").click()
    page.wait_for_url(re.compile(r"/onboarding/1/\?kind=paper$"))
    # Only the paper account's fields: a name and the starting balance.
    assert page.locator("#wizard input[name=paper_balance]").is_visible()
    for name in ("api_key", "secret", "passphrase", "market_type", "testnet"):
        assert page.locator(f"#wizard [name={name}]").count() == 0, name
    page.fill("#wizard input[name=label]", "My paper")
    wizard_submit(page, "Create the paper account")
    result = page.locator("#wizard .wizard-result")
    assert "ok" in result.get_attribute("class").split()
    assert "My paper" in result.inner_text() and "10,000.00 USDT of simulated money" in result.inner_text()
    account = ExchangeAccount.objects.get(user=user)
    assert account.is_paper and account.label == "My paper"
    assert OnboardingState.objects.get(user=user).data["connection"]["ok"] is True
    shot(page, "screens-04-onboarding-1")
    wizard_submit(page, "Continue with this account")
    page.wait_for_url(re.compile(r"/onboarding/2/$"))

    # 2. The questionnaire suggests a level as it is answered; the trader picks EMA crossover.
    suggestion = page.locator("#suggestion")
    assert "Answer the three questions" in suggestion.inner_text()
    for question in ("q_drop", "q_experience", "q_goal"):
        page.check(f"#wizard input[name={question}][value='1']")
    page.get_by_text("Suggested risk level: Balanced").wait_for()
    page.check("#wizard input[name=risk_level][value=balanced]")
    page.check("#wizard input[name=strategy][value=ema_crossover]")
    shot(page, "screens-05-onboarding-2")
    wizard_submit(page, "Next")
    page.wait_for_url(re.compile(r"/onboarding/3/$"))
    state = OnboardingState.objects.get(user=user)
    assert (state.step, state.data["strategy"], state.data["risk_level"]) == (3, "ema_crossover", "balanced")

    # 3. Risk settings from the balanced level, explained in money for the 10,000 USDT paper balance; the
    # explanation follows the take profit as it is typed.
    assert page.input_value("#id_leverage") == "2" and page.input_value("#id_position_size_pct") == "10"
    explanation = page.locator("#explanation")
    assert "Your balance: 10,000.00 USDT." in explanation.inner_text()
    assert "uses 1,000.00 USDT of margin" in explanation.inner_text()
    assert "you lose about 40.00 USDT" in explanation.inner_text()
    page.fill("#id_take_profit_pct", "10")
    page.get_by_text("you gain about 200.00 USDT").wait_for()
    shot(page, "screens-06-onboarding-3")
    wizard_submit(page, "Save and continue")
    page.wait_for_url(re.compile(r"/onboarding/4/$"))
    profile = RiskProfile.objects.get(user=user)
    assert (profile.leverage, profile.take_profit_pct) == (2, Decimal(10))

    # 4. A TradingView endpoint: its URL and, once, its secret.
    wizard_submit(page, "Create an endpoint")
    endpoint = WebhookEndpoint.objects.get(user=user)
    assert page.locator("#onb-endpoint-url").inner_text().endswith(f"/webhooks/tv/{endpoint.token}/")
    secret = page.locator("#onb-secret").inner_text().strip()
    assert secret and secret == webhook_services.endpoint_secret(endpoint)
    assert endpoint.exchange_account_id == account.pk
    shot(page, "screens-07-onboarding-4")
    wizard_submit(page, "Next")
    page.wait_for_url(re.compile(r"/onboarding/5/$"))

    # 5. The first backtest, run by the worker (not in the request): the progress shows, then the figures and
    # the equity chart replace it.
    celery_app.conf.task_always_eager = False
    try:
        with page.expect_response(lambda r: r.url.endswith("/onboarding/5/") and r.request.method == "POST") as sent:
            page.get_by_role("button", name="Run the backtest").click()
        assert "onb-backtest-progress" in sent.value.text()
        page.wait_for_selector("#onb-equity-chart canvas", timeout=90_000)
    finally:
        celery_app.conf.task_always_eager = True
    run = BacktestRun.objects.get(user=user)
    assert run.status == BacktestRun.Status.DONE and run.strategy == "ema_crossover"
    assert (run.leverage, run.take_profit_pct, run.initial_capital) == (2, Decimal(10), Decimal(10000))
    metrics = page.locator("#wizard .metric-cards .metric")
    labels = [metrics.nth(i).locator(".metric-label").inner_text() for i in range(metrics.count())]
    assert labels == ["Past return", "Buy and hold", "Max drawdown", "Win rate", "Trades"]  # past, not "expected"
    assert metrics.nth(4).locator(".metric-value").inner_text() == str(run.metrics["trades"])
    # Auto-trading is turned on here, beside what it means in money for the 10,000 USDT paper balance.
    autotrading = page.locator("#wizard .wizard-autotrading").first
    assert (
        "The bot may open positions of up to 1,000.00 USDT (10% of 10,000.00 USDT) at 2x, "
        "losing at most about 40.00 USDT per trade at the 2% stop loss." in autotrading.inner_text()
    )
    page.check("#auto-trading-paper")
    shot(page, "screens-08-onboarding-5")

    # Start on paper, from the crossover's eve: the dashboard shows the running bot.
    clock.replay_start(start=REPLAY_START, timeframe="1h", seconds_per_candle=Decimal(1))
    page.get_by_role("button", name="Start on paper").click()
    page.wait_for_url(re.compile(r"/trading/dashboard/$"))
    bot = Bot.objects.get(user=user)
    assert bot.status == Bot.Status.RUNNING and bot.strategy == "ema_crossover"
    assert bot.exchange_account_id == account.pk and bot.take_profit_pct == Decimal(10)
    page.get_by_text(f"Your bot “{bot.name}” is running on paper.").wait_for()
    user.refresh_from_db()
    assert user.auto_trading is True
    page.locator("#auto-trading-switch").get_by_text("Auto-trading on").wait_for()
    assert bot.name in page.locator("#market-select option:checked").inner_text()
    assert page.locator("section.empty-start").count() == 0
    shot(page, "screens-09-dashboard-bot")

    # The worker's beat replays a candle a second; the bot goes long on the crossover.
    position = wait_for(
        lambda: Position.objects.filter(bot=bot, status=Position.Status.OPEN).first(), 60, "the position", worker
    )
    entry = Trade.objects.get(position=position, side="buy")
    assert Order.objects.get(position=position, purpose=Order.Purpose.ENTRY).source == Order.Source.BOT
    # The chart shows closed candles only: wait for the entry's candle to close, then look.
    entry_candle = entry.time.replace(minute=0, second=0, microsecond=0)
    wait_for(
        lambda: MarketClock.objects.get().cursor >= entry_candle + timedelta(hours=2), 30, "the next candle", worker
    )
    page.goto("/trading/dashboard/")
    charts = json.loads(page.locator("#dashboard-charts").text_content())
    candle_times = {c["time"] for c in charts["market"]["candles"]["candles"]}
    buys = [m for m in charts["market"]["markers"] if m["shape"] == "arrowUp"]
    assert [m["text"] for m in buys] == ["Buy"], charts["market"]["markers"]
    assert charts["market"]["fills"][str(buys[0]["time"])] == [
        f"Entry filled: bought {display.quantity(entry.amount, 'BTC')} at {display.price(entry.price, 'USDT')}"
    ]
    assert buys[0]["time"] in candle_times and buys[0]["position"] == "belowBar"
    assert {o["name"] for o in charts["market"]["overlays"]}, "the bot's EMA lines"
    page.wait_for_selector("#market-chart canvas")
    box = page.locator("#market-chart").bounding_box()
    assert box["width"] > 300 and box["height"] > 200
    row = page.locator(f"#positions #position-{position.pk}")
    assert "Long" in row.inner_text() and bot.name in row.inner_text()
    shot(page, "screens-10-dashboard-position")

    # Close it from the dashboard (a confirm dialog), then switch auto-trading off.
    messages = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    row.get_by_role("button", name="Close").click()
    page.locator("#positions").get_by_text("No open positions.").wait_for()
    assert messages and "Close the BTC/USDT position now" in messages[0]
    position.refresh_from_db()
    assert position.status == Position.Status.CLOSED and position.exit_reason == "manual"
    assert Order.objects.get(position=position, purpose=Order.Purpose.EXIT).source == Order.Source.MANUAL
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#auto-trading-switch button").click()
    page.locator("#auto-trading-switch").get_by_text("Auto-trading off").wait_for()
    user.refresh_from_db()
    assert user.auto_trading is False
    shot(page, "screens-11-dashboard-auto-off")


# --- 2. the webhooks test tool --------------------------------------------------------------------------------


def test_webhooks_test_tool(page, market):
    user = UserFactory(email="hooks@example.com")
    account = account_services.exchange_account_create(user=user, exchange="paper", label="Paper")
    sign_in(page, user.email)

    page.goto("/webhooks/")
    assert page.get_by_text("You have no webhook endpoint yet.").is_visible()
    page.fill("#endpoint-form input[name=name]", "My alerts")
    page.get_by_role("button", name="Create endpoint").click()
    endpoint = wait_for(lambda: WebhookEndpoint.objects.filter(user=user).first(), 10, "the endpoint")
    card = page.locator(f"#endpoint-{endpoint.pk}")
    card.locator(".secret-once").wait_for()
    assert card.locator(f"#secret-{endpoint.pk}").inner_text() == webhook_services.endpoint_secret(endpoint)
    assert card.locator(f"#url-{endpoint.pk}").inner_text().endswith(f"/webhooks/tv/{endpoint.token}/")
    assert endpoint.name == "My alerts" and endpoint.exchange_account_id == account.pk and not endpoint.live

    # The test tool sends a sample buy through the real receiver; the paper exchange fills it.
    card.get_by_text("Send a test alert").click()
    card.locator(f"#test-action-{endpoint.pk}").select_option("buy")
    assert card.locator(f"#test-symbol-{endpoint.pk}").input_value() == "BTCUSDT"
    recent = page.locator("#recent-events")
    assert recent.get_by_text("No alert has arrived yet.").is_visible()
    card.get_by_role("button", name="Send the test alert").click()
    answer = card.locator(f"#test-result-{endpoint.pk}")
    answer.locator(".test-answer").wait_for()
    assert re.search(r"The receiver answered HTTP 20\d", answer.inner_text()), answer.inner_text()
    assert answer.locator(".test-answer .badge").inner_text() == "Accepted"
    event = WebhookEvent.objects.get(endpoint=endpoint)
    assert event.is_test and event.outcome == WebhookEvent.Outcome.ACCEPTED and event.action == "buy"
    assert event.market_time == REPLAY_START  # the replay's time, not the wall clock's
    row = answer.locator(f"#test-event-{event.pk}")
    row.get_by_text("Traded", exact=True).wait_for()  # the row polls itself until the alert is traded
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.DONE and event.order is not None
    assert event.order.status == Order.Status.FILLED and event.order.source == Order.Source.WEBHOOK
    assert "Opened a long: bought " in row.inner_text() and " BTC at " in row.inner_text()
    assert row.locator("td.event-time time").inner_text() == "3 Mar 2024, 08:00:00 UTC"
    assert "test" in row.locator(".badge").all_inner_texts()
    row.get_by_text("Details").click()
    assert f"Order {event.order.pk}: Filled" in row.locator("details").inner_text()
    position = Position.objects.get(exchange_account=account, status=Position.Status.OPEN)
    assert position.side == "long" and position.symbol == "BTC/USDT"
    # Without a reload: the page's recent activity has the alert (polling until traded too), and the card
    # counts it.
    listed = recent.locator(f"#event-{event.pk}")
    listed.get_by_text("Traded", exact=True).wait_for()
    assert "Opened a long: bought " in listed.inner_text()
    activity = card.locator(f"#endpoint-activity-{endpoint.pk}")
    assert "1 alert received, the last at 3 Mar 2024, 08:00:00 UTC" in activity.inner_text()
    assert page.locator(f"#event-{event.pk}").count() == 1  # one row by that id on the page
    shot(page, "screens-12-webhooks-test-tool")

    # A second test alert closes the position: the list and the card follow again, still without a reload.
    card.locator(f"#test-action-{endpoint.pk}").select_option("close")
    card.get_by_role("button", name="Send the test alert").click()
    wait_for(lambda: WebhookEvent.objects.filter(endpoint=endpoint).count() == 2, 10, "the second test alert")
    second = WebhookEvent.objects.filter(endpoint=endpoint).latest("id")
    recent.locator(f"#event-{second.pk}").get_by_text("Traded", exact=True).wait_for()
    assert "Closed the long: sold " in recent.locator(f"#event-{second.pk}").inner_text()
    assert recent.locator("tbody tr").count() == 2
    assert "2 alerts received" in activity.inner_text()
    page.set_viewport_size(PHONE)
    shot(page, "screens-12b-webhooks-test-tool-phone")
    page.set_viewport_size(DESKTOP)

    # The activity log has it, marked as a test.
    page.get_by_role("link", name=f"Event {second.pk} in the activity log").click()
    page.wait_for_url(re.compile(r"/webhooks/events/"))
    logged = page.locator(f"#event-{event.pk}")
    assert "test" in logged.locator(".badge").all_inner_texts()
    assert "My alerts" in logged.inner_text() and "Buy BTC/USDT" in logged.inner_text()
    assert "3 Mar 2024, 08:00:00 UTC" in logged.locator("td.event-time").inner_text()
    shot(page, "screens-13-webhooks-events")
    page.goto("/webhooks/")
    assert page.locator(f"#recent-events #event-{event.pk}").is_visible()


# Every page at three sizes in both languages: tests/browser/test_every_page_browser.py.
