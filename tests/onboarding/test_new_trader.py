"""The path of a new trader (issue 12): sign-up and confirmation land in the wizard; step 1 asks paper or an
exchange first and shows only that choice's fields, with no warning before a key is checked; auto-trading is
off for a new account until step 5 turns it on beside what it means in money; past results are labelled as
past, with buy and hold beside them; the migration keeps every existing user's switch."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.models import User
from market_data.selectors import series_info
from onboarding import services
from onboarding.models import OnboardingState
from tests.factories import PASSWORD
from tests.onboarding.conftest import HTMX, PAPER, step_url, walk_to
from trading import clock
from trading.bots import loop
from trading.bots import services as bot_services
from trading.bots import tick as ticks
from trading.models import Bot, Order

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a-long-Passphrase-77"
LONG = {"long_entry": True, "long_exit": False, "short_entry": False, "short_exit": False}


def newcomer(email: str = "newcomer@example.com") -> User:
    """A user as sign-up makes them (the test cast, UserFactory, are traders who turned auto-trading on)."""
    user = User.objects.create_user(email, PASSWORD)
    user.emailaddress_set.create(email=email, primary=True, verified=True)
    return user


def sign_in(client, email: str, password: str = PASSWORD, next_url: str = ""):
    url = reverse("account_login") + (f"?next={next_url}" if next_url else "")
    return client.post(url, {"login": email, "password": password})


# --- where a trader lands -------------------------------------------------------------------------------------


def test_sign_up_and_confirmation_land_in_the_wizard(client):
    response = client.post(
        reverse("account_signup"),
        {"email": "new.trader@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302 and "confirm-email" in response.url  # mandatory verification first
    link = re.search(r"http://testserver(/accounts/confirm-email/\S+)", mail.outbox[-1].body).group(1)
    confirmed = client.post(link)
    assert confirmed.status_code == 302 and confirmed.url == reverse("onboarding:start")
    assert client.get(confirmed.url).url == step_url(1)
    page = client.get(step_url(1))
    assert page.status_code == 200 and b"Where should your first bot trade?" in page.content
    user = User.objects.get(email="new.trader@example.com")
    assert user.auto_trading is False
    assert int(client.session["_auth_user_id"]) == user.pk


@pytest.mark.parametrize("verification", ["optional", "none"])
def test_sign_up_without_mandatory_verification_lands_in_the_wizard(client, settings, verification):
    settings.ACCOUNT_EMAIL_VERIFICATION = verification
    response = client.post(
        reverse("account_signup"),
        {"email": "quick@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302 and response.url == reverse("onboarding:start")


def test_a_new_trader_signing_in_lands_in_the_wizard_and_next_still_wins(client):
    newcomer()
    response = sign_in(client, "newcomer@example.com")
    assert response.status_code == 302 and response.url == reverse("onboarding:start")
    client.logout()
    response = sign_in(client, "newcomer@example.com", next_url=reverse("trading:bots"))
    assert response.status_code == 302 and response.url == reverse("trading:bots")


@pytest.mark.parametrize("why", ["finished", "dismissed", "has an exchange account", "has a bot"])
def test_others_land_where_they_always_did(client, why, request):
    if why == "has a bot":
        request.getfixturevalue("stored_candles")  # the paper exchange lists the stored markets
    user = newcomer()
    state = services.state_for(user=user)
    assert services.needs_onboarding(user=user) is True
    if why == "finished":
        state.completed_at = timezone.now()
        state.save()
    elif why == "dismissed":
        services.onboarding_dismiss(user=user)
    else:  # set up elsewhere (the API keys and Bots pages), without the wizard
        account = account_services.exchange_account_create(user=user, exchange="paper", label="Paper")
        if why == "has a bot":
            bot_services.bot_create(
                user=user,
                exchange_account=account,
                settings_=bot_services.BotSettings(strategy="ema_crossover", symbol="BTC/USDT", timeframe="1h"),
            )
    assert services.needs_onboarding(user=user) is False
    response = sign_in(client, user.email)
    assert response.status_code == 302 and response.url == reverse("home")


def test_not_now_leaves_the_wizard_for_the_dashboard(client):
    user = newcomer()
    client.force_login(user)
    page = client.get(step_url(1))
    assert b"Not now: go to the dashboard" in page.content
    response = client.post(reverse("onboarding:dismiss"))
    assert response.status_code == 302 and response.url == reverse("trading:dashboard")
    assert OnboardingState.objects.get(user=user).dismissed
    client.logout()
    assert sign_in(client, user.email).url == reverse("home")
    # The wizard is still there, where it was left.
    assert client.get(reverse("onboarding:start")).url == step_url(1)
    assert client.get(reverse("onboarding:dismiss")).status_code == 405  # a write is a POST


# --- step 1: the choice first, then only its fields -----------------------------------------------------------

FIELDS = ("paper_balance", "api_key", "secret", "passphrase", "market_type", "testnet")
SHOWN = {
    "": (),
    "paper": ("paper_balance",),
    "binance": ("api_key", "secret", "market_type", "testnet"),
    "okx": ("api_key", "secret", "passphrase", "market_type", "testnet"),
}


@pytest.mark.parametrize("htmx", [False, True], ids=["no-js", "htmx"])
@pytest.mark.parametrize("kind", ["", "paper", "binance", "okx"])
def test_step_1_shows_only_the_chosen_kinds_fields(client, kind, htmx):
    client.force_login(newcomer())
    extra = HTMX if htmx else {}
    page = client.get(step_url(1) + (f"?kind={kind}" if kind else ""), **extra)
    assert page.status_code == 200
    text = page.content.decode()
    for name in FIELDS:
        assert (f'name="{name}"' in text) is (name in SHOWN[kind]), (kind, name)
    if kind:
        assert f'name="exchange" value="{kind}"' in text and 'name="label"' in text
        assert "Choose something else" in text
    else:  # the three choices, as links that work without JavaScript and swap the step in with htmx
        for choice in ("paper", "binance", "okx"):
            assert f'href="{step_url(1)}?kind={choice}"' in text
            assert f'hx-get="{step_url(1)}?kind={choice}"' in text
    if htmx:
        assert 'id="wizard"' not in text and page["HX-Push-Url"] == page.wsgi_request.get_full_path()
    else:
        assert 'id="wizard"' in text


@pytest.mark.parametrize("kind", ["", "paper", "binance", "okx"])
def test_no_warning_before_a_key_is_checked(client, kind):
    client.force_login(newcomer())
    text = client.get(step_url(1) + (f"?kind={kind}" if kind else "")).content.decode()
    assert "message-warning" not in text and "Withdrawals are enabled" not in text
    assert "may withdraw" not in text and "any IP address" not in text


def test_a_checked_key_that_may_withdraw_is_warned_about(client, binance_server, settings):
    settings.TRENDY_EXCHANGE_API_URLS = {"binance": binance_server.url}
    binance_server.permissions["withdraw"] = True
    client.force_login(newcomer())
    form = {"action": "connect", "exchange": "binance", "label": "Binance", "market_type": "spot"}
    page = client.post(
        step_url(1), {**form, "api_key": binance_server.api_key, "secret": binance_server.secret}, **HTMX
    )
    text = page.content.decode()
    assert page.status_code == 200 and "Binance accepted the key" in text
    assert "message-warning" in text and "Withdrawals are enabled on this API key" in text


def test_a_refused_paper_form_shows_the_paper_form_again(client):
    client.force_login(newcomer())
    page = client.post(step_url(1), {**PAPER, "paper_balance": "-5"}, **HTMX)
    assert page.status_code == 400
    text = page.content.decode()
    assert "Enter a starting balance above 0" in text and 'name="paper_balance"' in text
    assert 'name="api_key"' not in text


def test_the_connected_paper_account_reads_in_the_pages_language(client):
    client.force_login(newcomer())
    client.post(step_url(1), PAPER, **HTMX)  # tested in English
    client.cookies["django_language"] = "ko"
    text = client.get(step_url(1)).content.decode()
    assert "모의 계정이 준비되었습니다. 모의 자금은 5,000.00 USDT입니다." in text
    assert "Paper account ready" not in text and "(paper)" not in text


# --- step 2 and 5: past results, named as past ------------------------------------------------------------------


def test_step_2_labels_the_standard_backtest_as_past_with_its_period_and_buy_and_hold(
    alice, alice_client, stored_candles
):
    walk_to(alice_client, 2)
    text = alice_client.get(step_url(2)).content.decode()
    assert "Past results, not a forecast" in text and "Expected" not in text
    assert text.count("Past return") == 6 and text.count("Buy and hold") >= 6
    assert re.search(r"from \d{1,2} [A-Z][a-z]{2} \d{4} to \d{1,2} [A-Z][a-z]{2} \d{4}", text)  # the period, as days
    assert "(Binance)" in text and "(binance)" not in text
    wizard = text[text.index('id="wizard"') :]
    assert not re.search(r"\d %", wizard)  # percentages through the project's formatting ("12.3%")


def test_step_5_labels_the_backtest_as_past_with_buy_and_hold(
    alice, alice_client, stored_candles, django_capture_on_commit_callbacks
):
    walk_to(alice_client, 5)
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(step_url(5), {"action": "backtest"}, **HTMX)
    text = alice_client.get(step_url(5)).content.decode()
    assert "Expected return" not in text and "expected" not in text.lower()
    labels = re.findall(r'<span class="metric-label">([^<]+)</span>', text)
    assert labels == ["Past return", "Buy and hold", "Max drawdown", "Win rate", "Trades"]
    assert "Past results from " in text and "A past result is not a forecast" in text
    assert "starting with 5,000.00 USDT" in text and "leverage 2x, 10% of the balance per position" in text


# --- auto-trading: off for a new account until step 5 turns it on ------------------------------------------------


def test_a_new_account_starts_with_auto_trading_off():
    assert User.objects.create_user("someone@example.com", PASSWORD).auto_trading is False
    assert User._meta.get_field("auto_trading").default is False


def finish_the_wizard(client, user, *, auto_trading: bool):
    """Walk ``user`` to step 5 on paper, run the backtest (the test is transactional: the task runs at the
    commit) and start on paper. Returns step 5's page, the answer to the finish and the bot's next candle."""
    client.force_login(user)
    walk_to(client, 5)
    client.post(step_url(5), {"action": "backtest"}, **HTMX)
    page = client.get(step_url(5)).content.decode()
    info = series_info(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    # The bot starts when the candle before the last stored one closes: the last one is its next candle.
    started = clock.Pin(time=info.last_open_time, price=lambda exchange, symbol: Decimal(60_000))
    with clock.pinned(started):
        data = {"live": "", **({"auto_trading": "on"} if auto_trading else {})}
        response = client.post(reverse("onboarding:finish"), data, follow=True)
    return page, response, info.last_open_time


def tick(bot: Bot, candle_open):
    pin = clock.Pin(time=candle_open + timedelta(hours=1), price=lambda exchange, symbol: Decimal(60_000))
    with clock.pinned(pin):
        return ticks.bot_tick(bot_id=bot.pk, candle_open=candle_open, signal=LONG)


@pytest.mark.django_db(transaction=True)
def test_step_5_without_the_box_makes_a_bot_that_waits(client, stored_candles):
    user = newcomer()
    page, response, next_candle = finish_the_wizard(client, user, auto_trading=False)
    # The box, unticked, with the money sentence for the 5,000 USDT paper balance at 2x, 10 %, 2 % stop loss.
    assert 'name="auto_trading" value="on"' in page and 'name="auto_trading" value="on" checked' not in page
    assert (
        "The bot may open positions of up to 500.00 USDT (10% of 5,000.00 USDT) at 2x, "
        "losing at most about 20.00 USDT per trade at the 2% stop loss." in page
    )
    user.refresh_from_db()
    bot = Bot.objects.get(user=user)
    assert user.auto_trading is False and bot.status == Bot.Status.RUNNING
    assert "is ready, and waits: auto-trading is off" in response.content.decode()
    assert bot.pk not in [b.pk for b in loop.running_bots()]
    assert tick(bot, next_candle).outcome == "skipped"
    assert not Order.objects.filter(bot=bot).exists()
    # The switch at the top of every page turns it on; then the same candle trades.
    client.post(reverse("trading:auto-trading"), {"enabled": "on"})
    user.refresh_from_db()
    assert user.auto_trading is True and bot.pk in [b.pk for b in loop.running_bots()]
    assert tick(bot, next_candle).outcome == "traded"
    assert Order.objects.filter(bot=bot).exists()


@pytest.mark.django_db(transaction=True)
def test_step_5_with_the_box_turns_auto_trading_on(client, stored_candles):
    user = newcomer()
    _page, response, next_candle = finish_the_wizard(client, user, auto_trading=True)
    user.refresh_from_db()
    bot = Bot.objects.get(user=user)
    assert user.auto_trading is True
    assert f"Your bot “{bot.name}” is running on paper." in response.content.decode()
    assert tick(bot, next_candle).outcome == "traded"


def test_a_trader_whose_auto_trading_is_on_sees_it_said_not_asked(
    alice, alice_client, stored_candles, django_capture_on_commit_callbacks
):
    walk_to(alice_client, 5)
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(step_url(5), {"action": "backtest"}, **HTMX)
    page = alice_client.get(step_url(5)).content.decode()
    assert "Auto-trading is on for your account" in page and 'name="auto_trading"' not in page
    alice_client.post(reverse("onboarding:finish"), {"live": ""})
    alice.refresh_from_db()
    assert alice.auto_trading is True


def test_an_existing_user_off_stays_off_when_finishing_without_the_box(
    alice, alice_client, stored_candles, django_capture_on_commit_callbacks
):
    bot_services.auto_trading_set(user=alice, enabled=False)
    walk_to(alice_client, 5)
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(step_url(5), {"action": "backtest"}, **HTMX)
    alice_client.post(reverse("onboarding:finish"), {"live": ""})
    alice.refresh_from_db()
    assert Bot.objects.filter(user=alice).exists() and alice.auto_trading is False


def test_the_demo_user_trades_at_once():
    user, created = account_services.demo_user_ensure(email="demo@trendy.local", password=NEW_PASSWORD)
    assert created and user.auto_trading is True
    bot_services.auto_trading_set(user=user, enabled=False)  # the presenter switches it off …
    user, created = account_services.demo_user_ensure(email="demo@trendy.local", password=NEW_PASSWORD)
    assert not created and user.auto_trading is False  # … and a re-seed keeps their choice


# --- the migration keeps every existing user's setting ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_existing_users_auto_trading():
    before = [("accounts", "0002_exchange_accounts")]
    after = [("accounts", "0003_auto_trading_off_for_new_users")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps.get_model("accounts", "User")
        old.objects.create(email="on@example.com", password="x")  # the old default: on
        old.objects.create(email="off@example.com", password="x", auto_trading=False)
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(after)
        new = executor.loader.project_state(after).apps.get_model("accounts", "User")
        assert dict(new.objects.values_list("email", "auto_trading")) == {
            "on@example.com": True,
            "off@example.com": False,
        }
        assert new.objects.create(email="new@example.com", password="x").auto_trading is False
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_unfinished_step_is_for_a_resume_link(alice, alice_client):
    assert services.unfinished_step(user=alice) is None  # never started
    walk_to(alice_client, 3)
    services.onboarding_dismiss(user=alice)
    assert services.unfinished_step(user=alice) == 3
    OnboardingState.objects.filter(user=alice).update(completed_at=timezone.now())
    assert services.unfinished_step(user=alice) is None
