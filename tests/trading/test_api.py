"""The trading API: bots, positions, orders, trades, the auto-trading switch, idempotent writes.

Prices come from two weeks of real BTC/USDT 1h candles with the market clock on replay, so the paper
exchange fills offline, exactly as it does for a user."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.core.cache import cache

from accounts.models import ExchangeAccount
from market_data.services import candles_import_csv
from tests.conftest import token_client
from trading import clock
from trading.bots import services as bot_services
from trading.exchanges.errors import InsufficientFunds, RateLimited
from trading.execution import positions as position_services
from trading.execution import router
from trading.execution.adapters import exchange_session
from trading.models import Bot, Order, Position, Trade
from trading_site import idempotency

pytestmark = pytest.mark.django_db

BTC_1H = Path(settings.BASE_DIR).parent / "shared" / "data" / "ohlcv" / "binance_BTCUSDT_1h.csv.gz"
REPLAY_AT = datetime(2024, 3, 1, 14, tzinfo=UTC)


# --- shared set-up (test_views imports these helpers) ------------------------------------------------------


def store_market(tmp_path: Path) -> None:
    """Feb 20 – Mar 5 2024 of BTC/USDT 1h, and the clock on replay at Mar 1 14:00 UTC."""
    lines = gzip.decompress(BTC_1H.read_bytes()).decode().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("2024-02-20"))
    path = tmp_path / "btc_1h.csv"
    path.write_text("\n".join([lines[0], *lines[first : first + 24 * 14]]) + "\n")
    candles_import_csv(path=path, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    clock.replay_start(start=REPLAY_AT)
    cache.clear()  # the clock and the paper market list are cached


def paper_account(user, label: str = "Paper") -> ExchangeAccount:
    return ExchangeAccount.objects.create(user=user, exchange="paper", label=label, paper_balance=Decimal(10000))


def make_bot(account: ExchangeAccount, **overrides) -> Bot:
    values = {"strategy": "ema_crossover", "symbol": "BTC/USDT", "timeframe": "1h", **overrides}
    return bot_services.bot_create(
        user=account.user, exchange_account=account, settings_=bot_services.BotSettings(**values)
    )


def open_position(account: ExchangeAccount, *, bot: Bot | None = None, client_id: str = "entry-1") -> Position:
    """A long through the paper exchange: the entry fill, then resting stop-loss and take-profit orders."""
    capped = router.Capped(
        leverage=1, position_size_pct=Decimal(10), stop_loss_pct=Decimal(2), take_profit_pct=Decimal(4)
    )
    with exchange_session(account) as exchange:
        position_services.position_open(
            exchange=exchange,
            account=account,
            symbol="BTC/USDT",
            side="long",
            capped=capped,
            client_id=client_id,
            bot=bot,
        )
    return Position.objects.get(exchange_account=account, status=Position.Status.OPEN)


def position_row(account: ExchangeAccount, symbol: str, *, bot: Bot | None = None) -> Position:
    """A position row without the exchange (for listings)."""
    return Position.objects.create(
        user=account.user,
        exchange_account=account,
        bot=bot,
        symbol=symbol,
        side=Position.Side.LONG,
        amount=Decimal("0.5"),
        entry_price=Decimal(100),
        mark_price=Decimal(110),
        opened_at=REPLAY_AT,
    )


@pytest.fixture
def market(db, tmp_path):
    store_market(tmp_path)


@pytest.fixture
def alice_paper(alice, market):
    return paper_account(alice)


@pytest.fixture
def bob_paper(bob, market):
    return paper_account(bob)


@pytest.fixture
def bob_api(bob):
    return token_client(bob)


@pytest.fixture
def alice_bot(alice_paper):
    return make_bot(alice_paper)


@pytest.fixture
def alice_position(alice_paper, alice_bot):
    return open_position(alice_paper, bot=alice_bot)


def assert_error(response, status: int, code: str | None = None, field: str | None = None) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["message"]
    if code:
        assert error["code"] == code
    if field:
        assert field in error["fields"], error
    return error


# --- bots -------------------------------------------------------------------------------------------------


def test_anonymous_is_refused(api_client, market):
    for url in ("/api/v1/bots/", "/api/v1/positions/", "/api/v1/orders/", "/api/v1/trades/", "/api/v1/auto-trading/"):
        assert api_client.get(url).status_code == 401


def test_bot_list_shows_only_my_bots(alice_api, alice_bot, bob_paper):
    make_bot(bob_paper)
    response = alice_api.get("/api/v1/bots/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    row = body["results"][0]
    assert row["id"] == alice_bot.pk
    assert row["status"] == "paused"
    assert row["position_size_pct"] == "10.00"
    assert row["exchange_account_label"] == "Paper"


def test_bot_create(alice_api, alice_paper):
    payload = {
        "exchange_account": alice_paper.pk,
        "strategy": "rsi_ema",
        "params": {"rsi_length": 10},
        "symbol": "btc/usdt",
        "timeframe": "1h",
        "stop_loss_pct": "3",
        "start": True,
    }
    response = alice_api.post("/api/v1/bots/", payload)
    assert response.status_code == 201, response.content
    body = response.json()
    bot = Bot.objects.get(pk=body["id"])
    assert bot.user == bot.exchange_account.user
    assert (bot.symbol, bot.strategy, bot.params["rsi_length"], bot.status) == ("BTC/USDT", "rsi_ema", 10, "running")
    assert body["stop_loss_pct"] == "3.00"
    assert (body["trailing_stop_pct"], body["pyramiding"]) == (None, 1)  # neither unless asked for


def test_bot_create_with_a_trailing_stop_and_pyramiding(alice_api, alice_paper):
    payload = {"exchange_account": alice_paper.pk, "strategy": "bb_rsi", "symbol": "BTC/USDT", "timeframe": "1h",
               "trailing_stop_pct": "1.5", "trailing_activation_pct": "1", "pyramiding": 3}  # fmt: skip
    response = alice_api.post("/api/v1/bots/", payload)
    assert response.status_code == 201, response.content
    bot = Bot.objects.get(pk=response.json()["id"])
    assert (bot.trailing_stop_pct, bot.trailing_activation_pct, bot.pyramiding) == (Decimal("1.5"), Decimal(1), 3)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"leverage": 11}, "leverage"),  # outside the API's range
        ({"leverage": 3}, "leverage"),  # beyond alice's risk profile (1x)
        ({"strategy": "nope"}, "strategy"),
        ({"params": {"fast": 50, "slow": 10}}, "params"),
        ({"symbol": "NOPE/USDT"}, "symbol"),
        ({"timeframe": "7m"}, "timeframe"),
        ({"exchange_account": None}, "exchange_account"),
        ({"trailing_stop_pct": "0.5"}, "trailing_stop_pct"),  # below a bot's 1–5 %
        ({"trailing_activation_pct": "-1"}, "trailing_activation_pct"),
        ({"pyramiding": 6}, "pyramiding"),
        ({"pyramiding": 0}, "pyramiding"),
    ],
)
def test_bot_create_refuses_bad_input(alice_api, alice_paper, change, field):
    payload = {"exchange_account": alice_paper.pk, "strategy": "ema_crossover", "symbol": "BTC/USDT", "timeframe": "1h"}
    payload.update(change)
    assert_error(alice_api.post("/api/v1/bots/", payload), 400, "invalid", field)
    assert not Bot.objects.exists()


def test_bot_create_on_someone_elses_account_is_refused(alice_api, bob_paper):
    payload = {"exchange_account": bob_paper.pk, "strategy": "ema_crossover", "symbol": "BTC/USDT", "timeframe": "1h"}
    assert_error(alice_api.post("/api/v1/bots/", payload), 400, "invalid", "exchange_account")
    assert not Bot.objects.exists()


def test_bot_detail_and_actions(alice_api, alice_bot):
    assert alice_api.get(f"/api/v1/bots/{alice_bot.pk}/").json()["name"] == alice_bot.name
    for action, status in (("start", "running"), ("pause", "paused"), ("start", "running"), ("stop", "stopped")):
        response = alice_api.post(f"/api/v1/bots/{alice_bot.pk}/{action}/")
        assert response.status_code == 200, response.content
        assert response.json()["status"] == status
        alice_bot.refresh_from_db()
        assert alice_bot.status == status


def test_bot_start_refused_when_the_account_is_disabled(alice_api, alice_bot, alice_paper):
    ExchangeAccount.objects.filter(pk=alice_paper.pk).update(enabled=False)
    assert_error(alice_api.post(f"/api/v1/bots/{alice_bot.pk}/start/"), 400, "invalid")
    alice_bot.refresh_from_db()
    assert alice_bot.status == "paused"


def test_other_users_bots_are_404(bob_api, alice_bot):
    assert_error(bob_api.get(f"/api/v1/bots/{alice_bot.pk}/"), 404, "not_found")
    for action in ("start", "pause", "stop"):
        assert_error(bob_api.post(f"/api/v1/bots/{alice_bot.pk}/{action}/"), 404)
    alice_bot.refresh_from_db()
    assert alice_bot.status == "paused"
    assert bob_api.get("/api/v1/bots/").json()["count"] == 0


# --- positions ----------------------------------------------------------------------------------------------


def test_position_list_open_by_default(alice_api, alice_position, alice_paper):
    closed = position_row(alice_paper, "ETH/USDT")
    Position.objects.filter(pk=closed.pk).update(status=Position.Status.CLOSED, realized_pnl=Decimal("1.5"))
    body = alice_api.get("/api/v1/positions/").json()
    assert [row["id"] for row in body["results"]] == [alice_position.pk]
    row = body["results"][0]
    assert row["side"] == "long" and row["status"] == "open"
    assert Decimal(row["amount"]) == alice_position.amount
    assert isinstance(row["entry_price"], str) and isinstance(row["unrealized_pnl"], str)
    assert Decimal(row["stop_loss"]) < Decimal(row["entry_price"]) < Decimal(row["take_profit"])
    closed_rows = alice_api.get("/api/v1/positions/?status=closed").json()["results"]
    assert [row["id"] for row in closed_rows] == [closed.pk]
    assert closed_rows[0]["realized_pnl"] == "1.5"
    assert alice_api.get("/api/v1/positions/?status=all").json()["count"] == 2
    assert_error(alice_api.get("/api/v1/positions/?status=bogus"), 400, "invalid", "status")


def test_position_list_query_count_is_bounded(alice, alice_api, alice_paper, django_assert_max_num_queries):
    alice_api.get("/api/v1/positions/")  # warm the token and user caches, if any
    bot = make_bot(alice_paper)
    for index in range(12):
        account = paper_account(alice, label=f"Paper {index}")
        position_row(account, "BTC/USDT", bot=bot)
    with django_assert_max_num_queries(4):
        response = alice_api.get("/api/v1/positions/")
    assert response.json()["count"] == 12


def test_position_detail(alice_api, bob_api, alice_position):
    assert alice_api.get(f"/api/v1/positions/{alice_position.pk}/").json()["id"] == alice_position.pk
    assert_error(bob_api.get(f"/api/v1/positions/{alice_position.pk}/"), 404)
    assert bob_api.get("/api/v1/positions/").json()["count"] == 0


def test_position_update_stop_loss_and_take_profit(alice_api, alice_position):
    url = f"/api/v1/positions/{alice_position.pk}/"
    response = alice_api.patch(url, {"stop_loss": "60000", "take_profit": "70000"})
    assert response.status_code == 200, response.content
    assert (response.json()["stop_loss"], response.json()["take_profit"]) == ("60000", "70000")
    working = Order.objects.filter(position=alice_position, status__in=Order.OPEN_STATUSES)
    assert sorted(working.values_list("purpose", "trigger_price")) == [
        ("stop_loss", Decimal(60000)),
        ("take_profit", Decimal(70000)),
    ]
    # Only the take profit: the stop loss is kept; null removes one.
    response = alice_api.patch(url, {"take_profit": None})
    assert (response.json()["stop_loss"], response.json()["take_profit"]) == ("60000", None)
    assert list(working.values_list("purpose", flat=True)) == ["stop_loss"]


def test_position_update_refuses_a_stop_above_the_price(alice_api, alice_position):
    url = f"/api/v1/positions/{alice_position.pk}/"
    assert_error(alice_api.patch(url, {"stop_loss": "90000"}), 400, "invalid", "stop_loss")
    assert_error(alice_api.patch(url, {"take_profit": "-1"}), 400, "invalid", "take_profit")
    assert_error(alice_api.patch(url, {"stop_loss": "abc"}), 400, "invalid", "stop_loss")


def test_position_close(alice_api, alice_position):
    response = alice_api.post(f"/api/v1/positions/{alice_position.pk}/close/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["position"]["status"] == "closed"
    assert body["order"]["purpose"] == "exit" and body["order"]["status"] == "filled"
    assert not Order.objects.filter(position=alice_position, status__in=Order.OPEN_STATUSES).exists()
    # Closing again (without an idempotency key) is a clear 400.
    assert_error(alice_api.post(f"/api/v1/positions/{alice_position.pk}/close/"), 400, "invalid")


def test_other_users_positions_are_404(bob_api, alice_position):
    url = f"/api/v1/positions/{alice_position.pk}/"
    assert_error(bob_api.patch(url, {"stop_loss": "60000"}), 404)
    assert_error(bob_api.post(f"{url}close/"), 404)
    alice_position.refresh_from_db()
    assert alice_position.status == "open" and alice_position.stop_loss != Decimal(60000)


def test_exchange_errors_are_mapped(alice_api, alice_position):
    url = f"/api/v1/positions/{alice_position.pk}/close/"
    with mock.patch.object(position_services, "position_close", side_effect=InsufficientFunds("Not enough margin.")):
        error = assert_error(alice_api.post(url), 409, "exchange_refused")
    assert error["message"] == "Not enough margin."
    with mock.patch.object(position_services, "position_close", side_effect=RateLimited("Slow down.", retry_after=7)):
        response = alice_api.post(url)
    assert_error(response, 503, "exchange_unavailable")
    assert response["Retry-After"] == "7"


# --- orders and trades -------------------------------------------------------------------------------------


def test_order_list_and_filter(alice_api, alice_position):
    everything = alice_api.get("/api/v1/orders/").json()
    assert everything["count"] == 3
    working = alice_api.get("/api/v1/orders/?status=open").json()["results"]
    assert sorted(row["purpose"] for row in working) == ["stop_loss", "take_profit"]
    assert all(isinstance(row["trigger_price"], str) for row in working)
    filled = alice_api.get("/api/v1/orders/?status=filled").json()["results"]
    assert [row["purpose"] for row in filled] == ["entry"]
    assert_error(alice_api.get("/api/v1/orders/?status=bogus"), 400, "invalid", "status")


def test_order_cancel(alice_api, bob_api, alice_position):
    order = Order.objects.get(position=alice_position, purpose=Order.Purpose.STOP_LOSS, status=Order.Status.OPEN)
    assert_error(bob_api.post(f"/api/v1/orders/{order.pk}/cancel/"), 404)
    assert bob_api.get("/api/v1/orders/").json()["count"] == 0
    response = alice_api.post(f"/api/v1/orders/{order.pk}/cancel/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "canceled"
    assert_error(alice_api.post(f"/api/v1/orders/{order.pk}/cancel/"), 400, "invalid")
    entry = Order.objects.get(position=alice_position, purpose=Order.Purpose.ENTRY)
    assert_error(alice_api.post(f"/api/v1/orders/{entry.pk}/cancel/"), 400, "invalid")


def test_trades_are_paginated_and_mine(alice_api, bob_api, alice_position):
    alice_api.post(f"/api/v1/positions/{alice_position.pk}/close/")
    body = alice_api.get("/api/v1/trades/?page_size=1").json()
    assert body["count"] == 2 == Trade.objects.filter(user=alice_position.user).count()
    assert len(body["results"]) == 1 and body["next"]
    row = body["results"][0]
    assert row["side"] == "sell" and isinstance(row["price"], str) and isinstance(row["realized_pnl"], str)
    assert bob_api.get("/api/v1/trades/").json()["count"] == 0


# --- auto-trading ---------------------------------------------------------------------------------------------


def test_auto_trading_switch(alice, alice_api):
    assert alice_api.get("/api/v1/auto-trading/").json() == {"enabled": True}
    assert alice_api.post("/api/v1/auto-trading/", {"enabled": False}).json() == {"enabled": False}
    alice.refresh_from_db()
    assert alice.auto_trading is False
    assert alice_api.get("/api/v1/auto-trading/").json() == {"enabled": False}
    assert_error(alice_api.post("/api/v1/auto-trading/", {}), 400, "invalid", "enabled")
    assert_error(alice_api.post("/api/v1/auto-trading/", {"enabled": "maybe"}), 400, "invalid", "enabled")


# --- idempotency ------------------------------------------------------------------------------------------------


def test_same_key_twice_creates_one_bot(alice_api, alice_paper):
    payload = {"exchange_account": alice_paper.pk, "strategy": "ema_crossover", "symbol": "BTC/USDT", "timeframe": "1h"}
    first = alice_api.post("/api/v1/bots/", payload, HTTP_IDEMPOTENCY_KEY="k-1")
    second = alice_api.post("/api/v1/bots/", payload, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert Bot.objects.count() == 1
    # The same key with another body is a mistake, not a replay.
    other = alice_api.post("/api/v1/bots/", {**payload, "timeframe": "4h"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert_error(other, 422, "idempotency_key_reused")
    # ...and on another endpoint too.
    assert_error(alice_api.post("/api/v1/auto-trading/", {"enabled": False}, HTTP_IDEMPOTENCY_KEY="k-1"), 422)
    assert Bot.objects.count() == 1


def test_same_key_twice_closes_once(alice_api, alice_position):
    url = f"/api/v1/positions/{alice_position.pk}/close/"
    first = alice_api.post(url, HTTP_IDEMPOTENCY_KEY="close-1")
    second = alice_api.post(url, HTTP_IDEMPOTENCY_KEY="close-1")
    assert first.status_code == second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"
    assert first.json() == second.json()
    assert Order.objects.filter(position=alice_position, purpose=Order.Purpose.EXIT).count() == 1


def test_replayed_validation_errors_and_sl_tp(alice_api, alice_position):
    url = f"/api/v1/positions/{alice_position.pk}/"
    bad = alice_api.patch(url, {"stop_loss": "90000"}, HTTP_IDEMPOTENCY_KEY="sl-bad")
    again = alice_api.patch(url, {"stop_loss": "90000"}, HTTP_IDEMPOTENCY_KEY="sl-bad")
    assert bad.status_code == again.status_code == 400 and again["Idempotent-Replayed"] == "true"
    assert bad.json() == again.json()
    alice_api.patch(url, {"stop_loss": "60000"}, HTTP_IDEMPOTENCY_KEY="sl-1")
    alice_api.patch(url, {"stop_loss": "60000"}, HTTP_IDEMPOTENCY_KEY="sl-1")
    # One replacement stop loss, not two.
    assert Order.objects.filter(position=alice_position, purpose="stop_loss", trigger_price=60000).count() == 1


def test_keys_are_per_user_and_per_action(alice_api, bob_api, alice, bob, alice_bot):
    assert alice_api.post("/api/v1/auto-trading/", {"enabled": False}, HTTP_IDEMPOTENCY_KEY="same").status_code == 200
    response = bob_api.post("/api/v1/auto-trading/", {"enabled": False}, HTTP_IDEMPOTENCY_KEY="same")
    assert response.status_code == 200 and not response.has_header("Idempotent-Replayed")
    bob.refresh_from_db()
    assert bob.auto_trading is False
    # Bob's key never replays alice's bot either.
    assert_error(bob_api.post(f"/api/v1/bots/{alice_bot.pk}/start/", HTTP_IDEMPOTENCY_KEY="start-1"), 404)
    assert alice_api.post(f"/api/v1/bots/{alice_bot.pk}/start/", HTTP_IDEMPOTENCY_KEY="start-1").status_code == 200


def test_a_request_in_flight_gets_409(alice, alice_api):
    _stored, lock = idempotency.cache_keys(alice.pk, "busy")
    cache.add(lock, "someone", 60)
    # The fingerprint differs from the lock's: a reused key while in flight.
    assert_error(alice_api.post("/api/v1/auto-trading/", {"enabled": False}, HTTP_IDEMPOTENCY_KEY="busy"), 422)
    with mock.patch.object(idempotency, "_fingerprint", return_value="someone"):
        response = alice_api.post("/api/v1/auto-trading/", {"enabled": False}, HTTP_IDEMPOTENCY_KEY="busy")
    assert_error(response, 409, "idempotency_in_progress")
    assert response["Retry-After"] == "1"
    alice.refresh_from_db()
    assert alice.auto_trading is True


def test_retryable_errors_are_not_stored(alice_api, alice_position):
    url = f"/api/v1/positions/{alice_position.pk}/close/"
    with mock.patch.object(position_services, "position_close", side_effect=RateLimited("Slow down.")):
        assert alice_api.post(url, HTTP_IDEMPOTENCY_KEY="retry-me").status_code == 503
    response = alice_api.post(url, HTTP_IDEMPOTENCY_KEY="retry-me")
    assert response.status_code == 200 and not response.has_header("Idempotent-Replayed")
    assert response.json()["position"]["status"] == "closed"


def test_a_too_long_key_is_refused(alice_api):
    response = alice_api.post("/api/v1/auto-trading/", {"enabled": False}, HTTP_IDEMPOTENCY_KEY="x" * 201)
    assert_error(response, 400, "invalid_idempotency_key")


def test_schema_lists_the_trading_paths(client):
    import yaml

    paths = yaml.safe_load(client.get("/api/v1/schema/").content)["paths"]
    for path in ("/api/v1/bots/", "/api/v1/bots/{bot_id}/start/", "/api/v1/positions/{position_id}/close/"):
        assert path in paths
    assert any(p["name"] == "Idempotency-Key" for p in paths["/api/v1/bots/"]["post"]["parameters"])


def test_auto_trading_switch_with_session_auth(alice, client):
    client.force_login(alice)
    response = client.post("/api/v1/auto-trading/", {"enabled": False}, content_type="application/json")
    assert response.status_code == 200 and response.json() == {"enabled": False}
    alice.refresh_from_db()
    assert alice.auto_trading is False


def test_trade_history_filters_and_cursor_pages(alice_api, bob_api, alice, alice_position):
    from datetime import timedelta

    from trading.models import Trade

    alice_api.post(f"/api/v1/positions/{alice_position.pk}/close/")
    first, second = Trade.objects.filter(user=alice).order_by("time", "id")
    Trade.objects.filter(pk=first.pk).update(time=second.time - timedelta(hours=2))  # an older entry fill
    sells = alice_api.get("/api/v1/trades/?side=sell").json()
    assert [row["id"] for row in sells["results"]] == [second.pk]
    since = (second.time - timedelta(hours=1)).isoformat()
    assert [r["id"] for r in alice_api.get("/api/v1/trades/", {"since": since}).json()["results"]] == [second.pk]
    assert alice_api.get("/api/v1/trades/", {"until": since}).json()["count"] == 1
    account = first.exchange_account_id
    assert alice_api.get(f"/api/v1/trades/?exchange_account={account}").json()["count"] == 2
    assert bob_api.get(f"/api/v1/trades/?exchange_account={account}").json()["count"] == 0  # never another's
    assert alice_api.get(f"/api/v1/trades/?symbol={first.symbol.lower()}").json()["count"] == 2
    # cursor pages: newest first, one at a time, to the end
    page = alice_api.get("/api/v1/trades/?cursor=&page_size=1").json()
    assert "count" not in page and [r["id"] for r in page["results"]] == [second.pk] and page["next"]
    page = alice_api.get(page["next"]).json()
    assert [r["id"] for r in page["results"]] == [first.pk] and page["next"] is None and page["previous"]
    assert bob_api.get("/api/v1/trades/?cursor=").json()["results"] == []
    for bad in (
        "?side=hold",
        "?since=yesterday",
        "?cursor=not-a-cursor!",
        "?bot=0",
        "?symbol=",
        "?page_size=0&cursor=",
    ):
        response = alice_api.get("/api/v1/trades/" + bad)
        assert response.status_code == 400, (bad, response.content)
    assert alice_api.get("/api/v1/trades/", {"since": since, "until": since}).status_code == 400
