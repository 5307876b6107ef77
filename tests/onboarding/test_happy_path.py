"""The whole wizard on the paper exchange with the Django test client: five steps, a running paper bot,
the dashboard."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import ExchangeAccount, RiskProfile
from onboarding.models import OnboardingState
from strategies.models import BacktestRun
from tests.onboarding.conftest import HTMX, PAPER, RISK, STRATEGY, step_url
from trading.models import Bot
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db


def test_five_steps_on_paper_end_with_a_running_bot(
    alice, alice_client, stored_candles, django_capture_on_commit_callbacks
):
    start = alice_client.get(reverse("onboarding:start"))
    assert start.status_code == 302 and start.url == step_url(1)
    page = alice_client.get(step_url(1))
    assert page.status_code == 200 and b"Connect an exchange" in page.content

    # 1. Connect the paper exchange: the connection test's result shows before moving on.
    page = alice_client.post(step_url(1), PAPER, **HTMX)
    assert page.status_code == 200, page.content.decode()
    assert "The paper account is ready, with 5,000.00 USDT of simulated money." in page.content.decode()
    state = OnboardingState.objects.get(user=alice)
    account = ExchangeAccount.objects.get(user=alice)
    assert state.step == 1 and state.data["account_id"] == account.pk and state.data["connection"]["ok"]
    page = alice_client.post(step_url(1), {"action": "next"}, **HTMX)
    assert page.status_code == 200 and page["HX-Push-Url"] == step_url(2)

    # 2. Strategy and risk level, with the standard backtests' metrics on the page.
    assert b"EMA crossover" in page.content and b"Max drawdown" in page.content
    suggestion = alice_client.get(
        reverse("onboarding:suggestion"), {"q_drop": "0", "q_experience": "0", "q_goal": "1"}, **HTMX
    )
    assert b"Suggested risk level: Conservative" in suggestion.content
    page = alice_client.post(step_url(2), STRATEGY, **HTMX)
    assert page.status_code == 200
    state.refresh_from_db()
    assert state.step == 3 and state.data["strategy"] == "ema_crossover" and state.data["leverage"] == "2"
    assert 'value="2"' in page.content.decode()  # prefilled from the balanced level

    # 3. Risk settings, explained in money for the 5,000 USDT balance; saved into the risk profile.
    explained = alice_client.get(reverse("onboarding:explanation"), RISK, **HTMX)
    text = explained.content.decode()
    assert "500.00 USDT of margin" in text and "1,000.00 USDT worth" in text
    assert "lose about 20.00 USDT" in text and "gain about 50.00 USDT" in text
    page = alice_client.post(step_url(3), RISK, **HTMX)
    assert page.status_code == 200
    profile = RiskProfile.objects.get(user=alice)
    assert (profile.leverage, profile.position_size_pct, profile.take_profit_pct) == (2, Decimal(10), Decimal(5))

    # 4. A webhook endpoint: URL, secret once, message JSON, Pine Script and guide.
    page = alice_client.post(step_url(4), {"action": "create"}, **HTMX)
    endpoint = WebhookEndpoint.objects.get(user=alice)
    text = page.content.decode()
    assert f"http://testserver/webhooks/tv/{endpoint.token}/" in text
    assert "shown only once" in text and "{{strategy.order.action}}" in text
    assert reverse("strategies:pine", args=["ema_crossover"]) in text
    assert reverse("webhooks:endpoint-guide", args=[endpoint.pk]) in text
    again = alice_client.get(step_url(4), **HTMX)
    assert "shown only once" not in again.content.decode() and "YOUR_ENDPOINT_SECRET" in again.content.decode()
    page = alice_client.post(step_url(4), {"action": "next"}, **HTMX)
    assert b"Run the backtest" in page.content

    # 5. The backtest (run eagerly), its figures and chart, then the paper bot.
    with django_capture_on_commit_callbacks(execute=True):
        page = alice_client.post(step_url(5), {"action": "backtest"}, **HTMX)
    assert page.status_code == 200, page.content.decode()
    run = BacktestRun.objects.get(user=alice)
    assert run.status == BacktestRun.Status.DONE, run.error
    assert (run.leverage, run.position_size_pct, run.initial_capital) == (2, Decimal(10), Decimal(5000))
    progress = alice_client.get(reverse("onboarding:progress"), **HTMX)
    assert progress["HX-Retarget"] == "#wizard"
    page = alice_client.get(step_url(5))
    text = page.content.decode()
    assert "Past return" in text and "Buy and hold" in text and "Win rate" in text and 'id="onb-equity"' in text
    assert "Go live" not in text  # a paper account has nothing to go live on

    done = alice_client.post(reverse("onboarding:finish"), {"live": ""})
    assert done.status_code == 302 and done.url == reverse("trading:dashboard")
    bot = Bot.objects.get(user=alice)
    assert bot.status == Bot.Status.RUNNING and bot.exchange_account == account
    assert (bot.strategy, bot.symbol, bot.timeframe, bot.leverage) == ("ema_crossover", "BTC/USDT", "1h", 2)
    state.refresh_from_db()
    assert state.done and state.data["bot_id"] == bot.pk and state.data["live"] is False
    dashboard = alice_client.get(done.url)
    assert dashboard.status_code == 200 and bot.name.encode() in dashboard.content


def test_full_page_without_htmx_and_resume(alice, alice_client, stored_candles):
    """Without JavaScript each step is a page and a redirect; leaving and coming back resumes the step."""
    response = alice_client.post(step_url(1), PAPER)
    assert response.status_code == 302 and response.url == step_url(1)
    alice_client.post(step_url(1), {"action": "next"})
    alice_client.logout()
    alice_client.force_login(alice)
    resumed = alice_client.get(reverse("onboarding:start"))
    assert resumed.url == step_url(2)
    page = alice_client.get(resumed.url)
    assert page.status_code == 200 and b'id="wizard"' in page.content and b"wizard.js" in page.content


@pytest.mark.parametrize("replay", [True, False], ids=["replay-clock", "live-clock"])
def test_the_first_backtest_never_sees_candles_the_replay_has_not_reached(alice, alice_client, stored_candles, replay):
    from datetime import timedelta

    from market_data.selectors import series_info
    from tests.onboarding.conftest import walk_to
    from trading import clock

    info = series_info(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    market_now = info.last_open_time - timedelta(days=20, minutes=-30)  # mid-candle, three weeks back
    if replay:
        clock.replay_start(start=market_now, timeframe="1h")
    walk_to(alice_client, 5)
    response = alice_client.post(step_url(5), {"action": "backtest"}, **HTMX)
    assert response.status_code == 200, response.content.decode()
    run = BacktestRun.objects.get(user=alice)
    if replay:
        assert run.end == clock.now().replace(minute=0, second=0, microsecond=0) < info.last_open_time
    else:
        assert run.end == info.last_open_time + timedelta(hours=1)
