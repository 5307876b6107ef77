"""The wizard under bad input: steps out of order, re-submitted, a back button after going live, half-filled
forms, a rejected key, a failing backtest, another user's ids. Each answers with a clear message and leaves
the wizard's state as it was."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts import services as account_services
from accounts.models import ExchangeAccount
from onboarding import services
from onboarding.models import OnboardingState
from strategies.backtest import BacktestError
from strategies.models import BacktestRun
from tests.onboarding.conftest import HTMX, PAPER, RISK, STRATEGY, step_url, walk_to
from trading.models import Bot
from webhooks import services as webhook_services
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db


def snapshot(user):
    state = OnboardingState.objects.get(user=user)
    return state.step, state.data, state.completed_at


# --- out of order -------------------------------------------------------------------------------


def test_a_later_step_is_refused_and_nothing_changes(alice, alice_client):
    walk_to(alice_client, 2)
    before = snapshot(alice)
    page = alice_client.post(step_url(4), {"action": "create"}, **HTMX)
    assert page.status_code == 400
    assert b"Finish step 2 first" in page.content and b"2. Choose a strategy" in page.content
    assert page["HX-Push-Url"] == step_url(2)
    response = alice_client.post(step_url(4), {"action": "create"})
    assert response.status_code == 302 and response.url == step_url(2)
    assert snapshot(alice) == before
    assert not WebhookEndpoint.objects.exists()
    # Looking ahead is not possible either: the address leads back to the current step.
    assert alice_client.get(step_url(5)).url == step_url(2)
    assert alice_client.post(step_url(9), {}, **HTMX).status_code == 400


def test_finishing_before_the_backtest_is_refused(alice, alice_client, stored_candles):
    walk_to(alice_client, 5)
    page = alice_client.post(reverse("onboarding:finish"), {"live": ""}, **HTMX)
    assert page.status_code == 400 and b"Run the backtest first" in page.content
    assert not Bot.objects.exists()
    assert snapshot(alice)[0] == 5


# --- re-submitted steps ---------------------------------------------------------------------------


def test_a_resubmitted_step_updates_and_duplicates_nothing(alice, alice_client, stored_candles):
    walk_to(alice_client, 2)
    again = alice_client.post(step_url(1), PAPER, **HTMX)  # the same form once more (a double click)
    assert again.status_code == 200, again.content.decode()
    assert ExchangeAccount.objects.filter(user=alice).count() == 1
    alice_client.post(step_url(1), {"action": "next"}, **HTMX)
    alice_client.post(step_url(2), STRATEGY, **HTMX)
    alice_client.post(step_url(2), {**STRATEGY, "strategy": "supertrend"}, **HTMX)  # browser back, changed
    state = OnboardingState.objects.get(user=alice)
    assert state.step == 3 and state.data["strategy"] == "supertrend"
    alice_client.post(step_url(3), RISK, **HTMX)
    alice_client.post(step_url(4), {"action": "create"}, **HTMX)
    second = alice_client.post(step_url(4), {"action": "create"}, **HTMX)
    assert b"already created this endpoint" in second.content
    assert "shown only once" not in second.content.decode()
    assert WebhookEndpoint.objects.filter(user=alice).count() == 1


def test_a_new_risk_level_brings_its_defaults_and_the_same_one_keeps_the_traders_values(alice, alice_client):
    walk_to(alice_client, 4)
    alice_client.post(step_url(2), STRATEGY, **HTMX)  # the same level: step 3's values stay
    assert OnboardingState.objects.get(user=alice).data["take_profit_pct"] == "5"
    alice_client.post(step_url(2), {**STRATEGY, "risk_level": "aggressive"}, **HTMX)
    data = OnboardingState.objects.get(user=alice).data
    assert (data["leverage"], data["position_size_pct"], data["take_profit_pct"]) == ("3", "15", "8")


def test_back_steps_back_and_keeps_the_choices(alice, alice_client):
    walk_to(alice_client, 4)
    page = alice_client.post(reverse("onboarding:back"), **HTMX)
    assert page.status_code == 200 and b"3. Risk settings" in page.content
    state = OnboardingState.objects.get(user=alice)
    assert state.step == 3 and state.data["leverage"] == "2"


# --- half-filled forms ----------------------------------------------------------------------------


def test_a_half_filled_risk_form_shows_field_errors(alice, alice_client):
    walk_to(alice_client, 3)
    before = snapshot(alice)
    page = alice_client.post(step_url(3), {"leverage": "2", "stop_loss_pct": "9"}, **HTMX)
    assert page.status_code == 400
    text = page.content.decode()
    assert "This field is required." in text and "less than or equal to 5" in text
    assert snapshot(alice) == before


def test_a_half_filled_exchange_form_saves_nothing(alice, alice_client):
    page = alice_client.post(
        step_url(1), {"action": "connect", "exchange": "okx", "label": "OKX", "api_key": "k"}, **HTMX
    )
    assert page.status_code == 400
    assert b"Enter the API secret." in page.content and b"passphrase" in page.content
    assert not ExchangeAccount.objects.exists()
    assert snapshot(alice)[:2] == (1, {})


def test_a_strategy_form_without_a_choice(alice, alice_client):
    walk_to(alice_client, 2)
    before = snapshot(alice)
    page = alice_client.post(step_url(2), {"q_drop": "2"}, **HTMX)
    assert page.status_code == 400 and b"This field is required." in page.content
    page = alice_client.post(step_url(2), {"strategy": "ema_crossover"}, **HTMX)
    assert page.status_code == 400 and b"Choose conservative, balanced or aggressive" in page.content
    assert snapshot(alice) == before
    # The questionnaire alone is enough for the level.
    answers = {"q_drop": "2", "q_experience": "2", "q_goal": "2", "strategy": "bb_rsi"}
    assert alice_client.post(step_url(2), answers, **HTMX).status_code == 200
    assert OnboardingState.objects.get(user=alice).data["risk_level"] == "aggressive"


# --- the exchange -----------------------------------------------------------------------------------


def binance_form(server, **extra):
    return {"action": "connect", "exchange": "binance", "label": "Binance", "api_key": server.api_key,
            "secret": server.secret, "market_type": "spot", **extra}  # fmt: skip


def test_a_rejected_key_keeps_nothing(alice, alice_client, binance_server, settings):
    settings.TRENDY_EXCHANGE_API_URLS = {"binance": binance_server.url}
    binance_server.reject_keys = True
    page = alice_client.post(step_url(1), binance_form(binance_server), **HTMX)
    assert page.status_code == 400
    assert b"Binance rejected the keys" in page.content
    assert not ExchangeAccount.objects.exists()
    state = OnboardingState.objects.get(user=alice)
    assert state.step == 1 and "account_id" not in state.data
    # Fixed on the exchange: the same form now connects.
    binance_server.reject_keys = False
    assert alice_client.post(step_url(1), binance_form(binance_server), **HTMX).status_code == 200


def test_going_live_needs_confirmation_and_happens_once(
    alice, alice_client, binance_server, settings, stored_candles, django_capture_on_commit_callbacks
):
    settings.TRENDY_EXCHANGE_API_URLS = {"binance": binance_server.url}
    binance_server.permissions["withdraw"] = True
    page = alice_client.post(step_url(1), binance_form(binance_server), **HTMX)
    assert page.status_code == 200, page.content.decode()
    assert b"Binance accepted the key" in page.content and b"Withdrawals are enabled on this API key" in page.content
    for number, data in [(1, {"action": "next"}), (2, STRATEGY), (3, RISK), (4, {"action": "skip"})]:
        assert alice_client.post(step_url(number), data, **HTMX).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(step_url(5), {"action": "backtest"}, **HTMX)
    page = alice_client.get(step_url(5))
    assert b"Go live" in page.content

    refused = alice_client.post(reverse("onboarding:finish"), {"live": "on"}, **HTMX)
    assert refused.status_code == 400 and b"Tick the box to confirm" in refused.content
    assert not Bot.objects.exists()

    done = alice_client.post(reverse("onboarding:finish"), {"live": "on", "confirm": "on"}, **HTMX)
    assert done.status_code == 200 and done["HX-Redirect"] == reverse("trading:dashboard")
    bot = Bot.objects.get(user=alice)
    assert bot.exchange_account.exchange == "binance" and bot.status == Bot.Status.RUNNING
    assert OnboardingState.objects.get(user=alice).data["live"] is True

    # The back button, a resubmitted form, the finish again: "already done", never a second bot.
    back = alice_client.post(reverse("onboarding:back"), **HTMX)
    assert back.status_code == 400 and b"already finished" in back.content and b"Already done" in back.content
    again = alice_client.post(reverse("onboarding:finish"), {"live": "on", "confirm": "on"})
    assert again.status_code == 302 and again.url == reverse("trading:dashboard")
    assert b"Already done" in alice_client.get(again.url).content
    assert alice_client.post(step_url(5), {"action": "backtest"}, **HTMX).status_code == 400
    assert alice_client.post(step_url(1), binance_form(binance_server, label="Other"), **HTMX).status_code == 400
    assert b"Already done" in alice_client.get(reverse("onboarding:start")).content
    assert Bot.objects.count() == 1 and ExchangeAccount.objects.filter(user=alice).count() == 1


def test_start_on_paper_from_a_real_account_uses_a_paper_account(
    alice, alice_client, binance_server, settings, stored_candles, django_capture_on_commit_callbacks
):
    settings.TRENDY_EXCHANGE_API_URLS = {"binance": binance_server.url}
    alice_client.post(step_url(1), binance_form(binance_server), **HTMX)
    for number, data in [(1, {"action": "next"}), (2, STRATEGY), (3, RISK), (4, {"action": "skip"})]:
        alice_client.post(step_url(number), data, **HTMX)
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(step_url(5), {"action": "backtest"}, **HTMX)
    alice_client.post(reverse("onboarding:finish"), {"live": ""})
    bot = Bot.objects.get(user=alice)
    assert bot.exchange_account.is_paper and bot.exchange_account.label == "Paper"


# --- the backtest ---------------------------------------------------------------------------------


def test_no_candles_at_step_5_is_a_clear_message(alice, alice_client):
    walk_to(alice_client, 5)
    before = snapshot(alice)
    page = alice_client.post(step_url(5), {"action": "backtest"}, **HTMX)
    assert page.status_code == 400 and b"No hourly candles are stored yet" in page.content
    assert snapshot(alice) == before and not BacktestRun.objects.exists()


def test_a_failed_backtest_shows_its_error_and_can_be_tried_again(
    alice, alice_client, stored_candles, monkeypatch, django_capture_on_commit_callbacks
):
    walk_to(alice_client, 5)

    def broken(**kwargs):
        raise BacktestError("the engine gave up")

    monkeypatch.setattr("strategies.services.backtest_compute", broken)
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(step_url(5), {"action": "backtest"}, **HTMX)
    run = BacktestRun.objects.get(user=alice)
    assert run.status == BacktestRun.Status.FAILED
    page = alice_client.get(step_url(5), **HTMX)
    assert b"The backtest failed: the engine gave up" in page.content and b"Try again" in page.content
    finish = alice_client.post(reverse("onboarding:finish"), {"live": ""}, **HTMX)
    assert finish.status_code == 400 and not Bot.objects.exists()
    assert OnboardingState.objects.get(user=alice).data["backtest_run_id"] == run.pk

    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(step_url(5), {"action": "backtest"}, **HTMX)
    state = OnboardingState.objects.get(user=alice)
    assert state.data["backtest_run_id"] != run.pk
    assert BacktestRun.objects.get(pk=state.data["backtest_run_id"]).status == BacktestRun.Status.DONE


# --- another user's rows --------------------------------------------------------------------------


def test_another_users_account_cannot_be_picked(alice, bob, alice_client):
    bobs = account_services.exchange_account_create(user=bob, exchange="paper", label="Bob paper")
    page = alice_client.get(step_url(1))
    assert b"Bob paper" not in page.content
    page = alice_client.post(step_url(1), {"action": "existing", "account_id": bobs.pk}, **HTMX)
    assert page.status_code == 400 and b"Choose one of your exchange accounts." in page.content
    state = OnboardingState.objects.get(user=alice)
    assert state.step == 1 and "account_id" not in state.data


def test_another_users_ids_in_the_state_are_never_used(alice, bob, alice_client):
    walk_to(alice_client, 4)
    bobs = account_services.exchange_account_create(user=bob, exchange="paper", label="Bob paper")
    bobs_endpoint = webhook_services.endpoint_create(user=bob, exchange_account=bobs, name="bob").endpoint
    state = OnboardingState.objects.get(user=alice)
    state.data["endpoint_id"] = bobs_endpoint.pk
    state.save()
    page = alice_client.get(step_url(4), **HTMX)
    assert bobs_endpoint.token not in page.content.decode() and b"Create an endpoint" in page.content
    state.data["account_id"] = bobs.pk
    state.save()
    page = alice_client.post(step_url(4), {"action": "create"}, **HTMX)
    assert page.status_code == 400 and b"The exchange account of step 1 is gone" in page.content
    assert WebhookEndpoint.objects.filter(user=alice).count() == 0
    with pytest.raises(services.WizardError):
        services.onboarding_finish(user=alice, live=False, confirm=False)


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("onboarding:start"))
    assert response.status_code == 302 and "/accounts/login/" in response.url
