"""Trading pages: bots, positions and orders, the auto-trading switch and the replay banner."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.trading.test_api import make_bot, open_position, paper_account, position_row, store_market
from trading import clock
from trading.models import Bot, Order, Position

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def market(db, tmp_path):
    store_market(tmp_path)


@pytest.fixture
def alice_paper(alice, market):
    return paper_account(alice)


@pytest.fixture
def alice_bot(alice_paper):
    return make_bot(alice_paper)


@pytest.fixture
def alice_position(alice_paper, alice_bot):
    return open_position(alice_paper, bot=alice_bot)


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


PAGES = ["/trading/bots/", "/trading/bots/new/", "/trading/positions/", "/trading/positions/table/"]


@pytest.mark.parametrize("url", [*PAGES, "/trading/auto-trading/"])
def test_pages_need_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- bots -------------------------------------------------------------------------------------------------


def test_bot_list_shows_my_bots_and_the_form(alice_client, alice_bot, bob, market):
    bob_bot = make_bot(paper_account(bob), name="Bob's bot")
    html = alice_client.get("/trading/bots/").content.decode()
    assert f'id="bot-{alice_bot.pk}"' in html and alice_bot.name in html
    assert f'id="bot-{bob_bot.pk}"' not in html and "Bob&#x27;s bot" not in html
    assert 'name="param_fast"' in html and 'name="exchange_account"' in html
    assert 'hx-post="/trading/bots/' in html


def test_halted_reason_is_shown_in_red_in_the_readers_language(alice_client, alice_bot):
    Bot.objects.filter(pk=alice_bot.pk).update(
        status=Bot.Status.HALTED, status_detail={"code": "drawdown", "drawdown": "25.04", "limit": "20.00"}
    )
    html = alice_client.get("/trading/bots/").content.decode()
    assert (
        '<span class="down">The account fell 25.0% below its peak, beyond the bot&#x27;s limit of 20.0%.</span>' in html
    )
    alice_client.cookies["django_language"] = "ko"
    html = alice_client.get("/trading/bots/").content.decode()
    assert '<span class="down">계좌가 최고점보다 25.0% 하락해 봇의 한도 20.0%를 넘었습니다.</span>' in html


def test_a_reason_given_as_text_is_shown_as_it_is(alice_client, alice_bot):
    Bot.objects.filter(pk=alice_bot.pk).update(status=Bot.Status.PAUSED, status_reason="Paused for the weekend.")
    assert '<span class="muted">Paused for the weekend.</span>' in alice_client.get("/trading/bots/").content.decode()


def test_new_bot_form_is_prefilled_from_the_strategy(alice_client, alice_paper):
    html = alice_client.get("/trading/bots/new/?strategy=rsi_ema").content.decode()
    assert '<option value="rsi_ema" selected>' in html
    assert 'name="param_rsi_length"' in html and 'value="14"' in html
    assert f'<option value="{alice_paper.pk}">Paper (paper)</option>' in html
    assert alice_client.get("/trading/bots/new/?strategy=nope").status_code == 404


def test_new_bot_param_fields_partial(alice_client, market):
    response = alice_client.get("/trading/bots/new/?partial=params&strategy=supertrend", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<fieldset id="bot-param-fields">')
    assert 'name="param_atr_period"' in html and "<html" not in html


def _bot_post(account, **changes):
    data = {
        "strategy": "ema_crossover",
        "exchange_account": account.pk,
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "direction": "long",
        "leverage": "1",
        "position_size_pct": "10",
        "stop_loss_pct": "2",
        "take_profit_pct": "4",
        "max_drawdown_pct": "20",
        "param_fast": "10",
        "param_slow": "30",
    }
    data.update(changes)
    return data


def test_create_bot(alice_client, alice_paper):
    response = alice_client.post("/trading/bots/new/", _bot_post(alice_paper, start="on"))
    assert response.status_code == 302 and response["Location"] == "/trading/bots/"
    bot = Bot.objects.get()
    assert (bot.params, bot.status, bot.user_id) == ({"fast": 10, "slow": 30}, "running", alice_paper.user_id)


def test_create_bot_shows_errors(alice_client, alice_paper, bob, market):
    response = alice_client.post("/trading/bots/new/", _bot_post(alice_paper, leverage="4"))
    assert response.status_code == 400
    assert "risk profile" in response.content.decode()
    response = alice_client.post("/trading/bots/new/", _bot_post(alice_paper, param_fast="40"))
    assert response.status_code == 400
    # Someone else's account is not a choice.
    bob_account = paper_account(bob)
    response = alice_client.post("/trading/bots/new/", _bot_post(bob_account))
    assert response.status_code == 400 and "exchange_account" in response.context["form"].errors
    assert not Bot.objects.exists()


def test_bot_actions_swap_the_row(alice_client, alice_bot):
    response = alice_client.post(f"/trading/bots/{alice_bot.pk}/start/", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="bot-{alice_bot.pk}">') and "<html" not in html
    assert "Running" in html and "/pause/" in html
    alice_bot.refresh_from_db()
    assert alice_bot.status == "running"
    alice_client.post(f"/trading/bots/{alice_bot.pk}/pause/", **HTMX)
    alice_bot.refresh_from_db()
    assert alice_bot.status == "paused"
    # Without htmx: back to the page.
    response = alice_client.post(f"/trading/bots/{alice_bot.pk}/stop/")
    assert response.status_code == 302
    alice_bot.refresh_from_db()
    assert alice_bot.status == "stopped"
    assert alice_client.post(f"/trading/bots/{alice_bot.pk}/explode/").status_code == 404


def test_bot_action_error_is_shown_in_the_row(alice_client, alice_bot, alice_paper):
    type(alice_paper).objects.filter(pk=alice_paper.pk).update(enabled=False)
    response = alice_client.post(f"/trading/bots/{alice_bot.pk}/start/", **HTMX)
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode() and "disabled" in response.content.decode()


def test_other_users_bots_are_404(bob_client, alice_bot):
    for action in ("start", "pause", "stop"):
        assert bob_client.post(f"/trading/bots/{alice_bot.pk}/{action}/", **HTMX).status_code == 404
    alice_bot.refresh_from_db()
    assert alice_bot.status == "paused"
    assert alice_bot.name not in bob_client.get("/trading/bots/").content.decode()


# --- positions and orders ---------------------------------------------------------------------------------


def test_positions_page(alice_client, alice_position):
    alice_client.post(f"/trading/orders/{Order.objects.filter(purpose='take_profit').get().pk}/cancel/")
    html = alice_client.get("/trading/positions/").content.decode()
    assert f'id="position-{alice_position.pk}"' in html
    assert 'hx-trigger="every 5s' in html and 'hx-get="/trading/positions/table/"' in html
    assert "hx-confirm=" in html
    assert 'id="orders-table"' in html and 'id="trades-table"' in html
    assert "Stop loss" in html


def test_positions_table_partial(alice_client, alice_position):
    response = alice_client.get("/trading/positions/table/", **HTMX)
    html = response.content.decode()
    assert "<html" not in html and f'id="position-{alice_position.pk}"' in html


def test_positions_page_query_count_is_bounded(alice, alice_client, alice_paper, django_assert_max_num_queries):
    bot = make_bot(alice_paper)
    for index in range(10):
        position_row(paper_account(alice, label=f"Paper {index}"), "BTC/USDT", bot=bot)
    alice_client.get("/trading/positions/table/")
    with django_assert_max_num_queries(6):
        html = alice_client.get("/trading/positions/table/").content.decode()
    assert html.count('id="position-') == 10
    with django_assert_max_num_queries(12):
        alice_client.get("/trading/positions/")


def test_quick_close(alice_client, alice_position):
    response = alice_client.post(f"/trading/positions/{alice_position.pk}/close/", **HTMX)
    assert response.status_code == 200
    assert "No open positions." in response.content.decode()
    alice_position.refresh_from_db()
    assert alice_position.status == "closed"
    response = alice_client.post(f"/trading/positions/{alice_position.pk}/close/", **HTMX)
    assert response.status_code == 400 and "already closed" in response.content.decode()


def test_edit_stop_loss_and_take_profit(alice_client, alice_position):
    url = f"/trading/positions/{alice_position.pk}/stops/"
    response = alice_client.post(url, {"stop_loss": "60000", "take_profit": "70000"}, **HTMX)
    assert response.status_code == 200
    alice_position.refresh_from_db()
    assert (alice_position.stop_loss, alice_position.take_profit) == (Decimal(60000), Decimal(70000))
    response = alice_client.post(url, {"stop_loss": "90000", "take_profit": ""}, **HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert "below" in html and '<details class="position-stops" open>' in html
    response = alice_client.post(url, {"stop_loss": "x"}, **HTMX)
    assert response.status_code == 400
    alice_position.refresh_from_db()
    assert alice_position.stop_loss == Decimal(60000)


def test_cancel_order(alice_client, alice_position):
    order = Order.objects.get(position=alice_position, purpose="stop_loss", status="open")
    response = alice_client.post(f"/trading/orders/{order.pk}/cancel/", **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="order-{order.pk}"' not in html and "<html" not in html
    order.refresh_from_db()
    assert order.status == "canceled"


def test_other_users_positions_and_orders_are_404(bob_client, alice_position):
    order = Order.objects.get(position=alice_position, purpose="stop_loss", status="open")
    assert bob_client.post(f"/trading/positions/{alice_position.pk}/close/", **HTMX).status_code == 404
    assert bob_client.post(f"/trading/positions/{alice_position.pk}/stops/", {"stop_loss": "1"}).status_code == 404
    assert bob_client.post(f"/trading/orders/{order.pk}/cancel/", **HTMX).status_code == 404
    html = bob_client.get("/trading/positions/").content.decode()
    assert f'id="position-{alice_position.pk}"' not in html and f'id="order-{order.pk}"' not in html
    alice_position.refresh_from_db()
    order.refresh_from_db()
    assert alice_position.status == "open" and order.status == "open"
    assert Position.objects.filter(status="open").count() == 1


# --- header, banner, strategies link -----------------------------------------------------------------------


def test_auto_trading_switch(alice, alice_client, market):
    html = alice_client.get("/trading/bots/").content.decode()
    assert 'id="auto-trading-switch"' in html and "Auto-trading on" in html and "hx-confirm=" in html
    response = alice_client.post("/trading/auto-trading/", {}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "Auto-trading off" in html and "hx-confirm" not in html
    alice.refresh_from_db()
    assert alice.auto_trading is False
    assert "Auto-trading off" in alice_client.get("/trading/auto-trading/", **HTMX).content.decode()
    response = alice_client.post("/trading/auto-trading/", {"enabled": "on", "next": "/trading/positions/"})
    assert response.status_code == 302 and response["Location"] == "/trading/positions/"
    alice.refresh_from_db()
    assert alice.auto_trading is True
    response = alice_client.post("/trading/auto-trading/", {"next": "https://evil.example/"})
    assert response["Location"] == "/trading/bots/"


def test_header_has_no_switch_for_visitors(client):
    html = client.get("/").content.decode()
    assert "auto-trading-switch" not in html and "/trading/bots/" not in html


def test_replay_banner(alice, alice_client, market):
    html = alice_client.get("/trading/bots/").content.decode()
    assert "Replay: market time 1 Mar 2024, 14:00 UTC" in html
    alice.timezone = "Asia/Seoul"
    alice.save(update_fields=["timezone"])
    alice_client.cookies["django_language"] = "ko"
    assert "리플레이: 시장 시각 2024년 3월 1일 23:00 KST" in alice_client.get("/trading/bots/").content.decode()
    alice_client.cookies["django_language"] = "en"
    clock.replay_stop()
    clock._forget()  # the test transaction never commits, so on_commit does not run
    assert "Replay: market time" not in alice_client.get("/trading/bots/").content.decode()


def test_strategies_page_links_to_activate(alice_client):
    html = alice_client.get("/strategies/").content.decode()
    assert "/trading/bots/new/?strategy=ema_crossover" in html
