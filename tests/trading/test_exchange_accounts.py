"""Exchange accounts: the connection test (against the fake Binance and OKX), the API on the seed's
``/api/v1/accounts-secure/`` paths, and the API keys page with its htmx actions. The plaintext keys must
never come back: not in an answer, a page, the admin or the logs."""

from __future__ import annotations

import logging
import os

import pytest
from django.utils import translation

from accounts import services
from accounts.models import ExchangeAccount
from tests.trading.fake_exchange import API_KEY, PASSPHRASE, SECRET
from trading.exchange_accounts import connection
from trading.exchanges import registry
from trading.models import Bot

pytestmark = pytest.mark.django_db

BASE = "/api/v1/accounts-secure"
PAGE = "/trading/keys/"
SECRETS = (API_KEY, SECRET, PASSPHRASE)
HTMX = {"HTTP_HX_REQUEST": "true"}


def paper(user, label="Practice", **kwargs):
    return services.exchange_account_create(user=user, exchange="paper", label=label, **kwargs)


def real(user, exchange="binance", label="Binance main", **kwargs):
    values = {"api_key": API_KEY, "secret": SECRET, "passphrase": PASSPHRASE if exchange == "okx" else ""}
    return services.exchange_account_create(user=user, exchange=exchange, label=label, **(values | kwargs))


def bot_on(account, name="BTC trend"):
    return Bot.objects.create(
        user=account.user,
        exchange_account=account,
        name=name,
        strategy="supertrend",
        symbol="BTC/USDT",
        timeframe="1h",
    )


def assert_no_secret(text: str | bytes) -> None:
    if isinstance(text, bytes):
        text = text.decode()
    for value in SECRETS:
        assert value not in text


@pytest.fixture
def point_at(monkeypatch):
    """Send every ccxt adapter that ``adapter_for`` builds to a fake exchange, with no real waiting."""
    original = registry.build_exchange

    def point(fake):
        def build(exchange_id, **kwargs):
            kwargs |= {"api_urls": {"*": fake.url}, "rate_limit_ms": 0, "sleep": fake.sleeps.append}
            return original(exchange_id, **kwargs)

        monkeypatch.setattr(registry, "build_exchange", build)
        return fake

    return point


@pytest.fixture
def binance(binance_server, point_at):
    return point_at(binance_server)


@pytest.fixture
def okx(okx_server, point_at):
    return point_at(okx_server)


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


# --- the connection test -----------------------------------------------------------------------------------


def test_paper_account_connects(alice):
    account = paper(alice, paper_balance="2500")
    result = connection.exchange_account_test(account=account)
    assert result.ok
    assert result.message == "Paper account ready. Balance: 2,500.00 USDT."
    assert result.balances["USDT"].total == 2500
    assert result.withdrawals_enabled is None and result.warnings == ()
    account.refresh_from_db()
    assert account.last_test_ok is True and account.last_test_message == result.message
    # The facts are kept too, so a page in another language writes the sentence in that language.
    assert account.last_test_detail == {
        "kind": "paper_ready", "exchange": "paper", "testnet": False, "balances": [["USDT", "2500"]], "more": 0
    }  # fmt: skip
    with translation.override("ko"):
        assert connection.test_message(account.last_test_detail) == "모의 계정이 준비되었습니다. 잔고: 2,500.00 USDT."


def test_binance_mainnet_connects_and_reads_the_key_permissions(alice, binance):
    account = real(alice)
    result = connection.exchange_account_test(account=account)
    assert result.ok, result.message
    assert result.message == "Connected to Binance (mainnet). Balance: 10,000.00 USDT, 0.5 BTC, 5 ETH."
    assert result.withdrawals_enabled is False
    # The fake key is not restricted to an IP address: the user is told to set an allowlist.
    assert len(result.warnings) == 1 and "IP allowlist" in result.warnings[0]
    assert binance.calls("/sapi/v1/account/apiRestrictions")
    account.refresh_from_db()
    assert (account.last_test_ok, account.withdrawals_enabled) == (True, False)


def test_a_key_that_may_withdraw_gets_a_loud_warning(alice, binance):
    binance.permissions |= {"withdraw": True, "ip_restricted": True}
    account = real(alice)
    result = connection.exchange_account_test(account=account)
    assert result.ok
    assert result.withdrawals_enabled is True
    assert result.warnings == (connection.withdrawals_warning(),)
    assert "Withdrawals are enabled" in result.warnings[0] and "IP allowlist" in result.warnings[0]
    account.refresh_from_db()
    assert account.withdrawals_enabled is True


def test_a_key_that_may_not_trade_is_flagged(alice, binance):
    binance.permissions |= {"trade": False, "ip_restricted": True}
    result = connection.exchange_account_test(account=real(alice))
    assert result.ok
    assert any("may not trade" in warning for warning in result.warnings)


def test_binance_testnet_does_not_say_about_withdrawals(alice, binance):
    account = real(alice, testnet=True)
    result = connection.exchange_account_test(account=account)
    assert result.ok, result.message
    assert result.message.startswith("Connected to Binance (testnet).")
    assert result.withdrawals_enabled is None and result.warnings == ()
    assert not binance.calls("/sapi/v1/account/apiRestrictions")  # the spot testnet has no /sapi


def test_binance_perpetual_account(alice, binance):
    result = connection.exchange_account_test(account=real(alice, market_type="swap"))
    assert result.ok, result.message
    assert "10,000.00 USDT" in result.message


def test_okx_connects_with_its_passphrase(alice, okx):
    okx.permissions |= {"withdraw": True}
    account = real(alice, exchange="okx", label="OKX")
    result = connection.exchange_account_test(account=account)
    assert result.ok, result.message
    assert result.message.startswith("Connected to OKX (mainnet).")
    assert result.withdrawals_enabled is True
    assert connection.withdrawals_warning() in result.warnings


def test_rejected_keys(alice, binance):
    binance.reject_keys = True
    binance.echo_requests = True  # the error quotes the request, headers and all, as a careless exchange might
    account = real(alice)
    result = connection.exchange_account_test(account=account)
    assert not result.ok
    assert result.message.startswith("Binance rejected the keys (")
    assert "Invalid API-key" in result.message and "mainnet" in result.message
    assert_no_secret(result.message)
    account.refresh_from_db()
    assert account.last_test_ok is False and account.last_test_message == result.message
    assert_no_secret(account.last_test_message)


def test_wrong_okx_passphrase(alice, okx):
    account = real(alice, exchange="okx", label="OKX", passphrase="not-the-passphrase")
    result = connection.exchange_account_test(account=account)
    assert not result.ok
    assert result.message.startswith("OKX rejected the keys (")
    assert "not-the-passphrase" not in result.message


def test_rate_limited(alice, binance):
    binance.rate_limit(times=10)
    result = connection.exchange_account_test(account=real(alice))
    assert not result.ok
    assert result.message.startswith("Binance is limiting requests right now")
    assert binance.sleeps  # the read was retried with backoff first


def test_exchange_unreachable(alice, binance):
    binance.server_error(times=10)
    result = connection.exchange_account_test(account=real(alice))
    assert not result.ok
    assert result.message.startswith("Binance could not be reached")


def test_nothing_listening(alice, point_at):
    class Nowhere:
        url = "http://127.0.0.1:9"  # the discard port: nothing answers
        sleeps: list = []

    point_at(Nowhere)
    result = connection.exchange_account_test(account=real(alice))
    assert not result.ok
    assert "could not be reached" in result.message


def test_an_exchange_ccxt_does_not_know(alice):
    account = real(alice, exchange="nosuchexchange")
    result = connection.exchange_account_test(account=account)
    assert not result.ok
    assert result.message.startswith("ccxt does not know the exchange “nosuchexchange”")


def test_keys_sealed_under_a_dropped_encryption_key(settings, alice):
    settings.TRENDY_ENCRYPTION_KEYS = [os.urandom(32)]
    account = real(alice)
    settings.TRENDY_ENCRYPTION_KEYS = [os.urandom(32)]
    result = connection.exchange_account_test(account=account)
    assert not result.ok
    assert "cannot be opened" in result.message


def test_the_explicit_api_urls_override(alice, binance_server, monkeypatch):
    original = registry.build_exchange
    monkeypatch.setattr(
        registry, "build_exchange", lambda exchange_id, **kw: original(exchange_id, **kw | {"rate_limit_ms": 0})
    )
    result = connection.exchange_account_test(account=real(alice), api_urls={"*": binance_server.url})
    assert result.ok, result.message


# --- API -----------------------------------------------------------------------------------------------------


def test_api_needs_a_signed_in_user(api_client, alice):
    account = paper(alice)
    for method, url in (
        ("post", f"{BASE}/register"),
        ("get", f"{BASE}/list"),
        ("delete", f"{BASE}/{account.pk}"),
        ("post", f"{BASE}/{account.pk}/toggle"),
        ("post", f"{BASE}/{account.pk}/test"),
    ):
        assert getattr(api_client, method)(url).status_code in (401, 403)
    assert ExchangeAccount.objects.get(pk=account.pk).enabled


def test_api_register_paper(alice_api):
    response = alice_api.post(f"{BASE}/register", {"exchange": "paper", "label": "Practice"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["exchange"] == "paper" and body["label"] == "Practice"
    assert body["paper_balance"] == "10000.00"
    assert body["key_hint"] == "" and body["enabled"] is True and body["testnet"] is False
    assert body["last_test_ok"] is None and body["withdrawals_enabled"] is None
    assert not {"api_key", "secret", "passphrase"} & set(body)


def test_api_register_binance_never_returns_the_keys(alice_api, alice):
    data = {
        "exchange": "binance",
        "label": "Binance main",
        "testnet": True,
        "market_type": "swap",
        "api_key": API_KEY,
        "secret": SECRET,
    }
    response = alice_api.post(f"{BASE}/register", data, format="json")
    assert response.status_code == 201, response.content
    assert_no_secret(response.content)
    body = response.json()
    assert body["key_hint"] == "••••••" + API_KEY[-4:]
    assert (body["testnet"], body["market_type"], body["paper_balance"]) == (True, "swap", None)
    account = ExchangeAccount.objects.get(pk=body["id"])
    assert account.user == alice
    assert account.credentials()["secret"] == SECRET


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"exchange": "binance", "label": "b", "api_key": API_KEY}, {"secret"}),
        ({"exchange": "okx", "label": "o", "api_key": API_KEY, "secret": SECRET}, {"passphrase"}),
        ({"exchange": "bin ance", "label": "b", "api_key": API_KEY, "secret": SECRET}, {"exchange"}),
        ({"exchange": "paper", "label": "p", "paper_balance": "0"}, {"paper_balance"}),
        ({"exchange": "paper", "label": "p", "paper_balance": "1e13"}, {"paper_balance"}),
        ({"exchange": "paper", "label": "p", "market_type": "options"}, {"market_type"}),
        ({"exchange": "paper", "label": ""}, {"label"}),
        ({"label": "p"}, {"exchange"}),
    ],
)
def test_api_register_refusals(alice_api, data, fields):
    response = alice_api.post(f"{BASE}/register", data, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == fields
    assert error["message"]
    assert_no_secret(response.content)
    assert not ExchangeAccount.objects.exists()


def test_api_register_duplicate_label(alice_api, alice):
    paper(alice, label="Practice")
    response = alice_api.post(f"{BASE}/register", {"exchange": "paper", "label": "practice"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "label": ["You already have an account called “practice”: choose another label."]
    }


def test_api_list_shows_only_your_accounts(alice_api, alice, bob):
    mine = [paper(alice), real(alice)]
    real(bob, label="Bob's")
    response = alice_api.get(f"{BASE}/list")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [a.pk for a in mine]
    assert [row["key_hint"] for row in body["results"]] == ["", "••••••" + API_KEY[-4:]]
    assert_no_secret(response.content)


def test_api_toggle(alice_api, alice):
    account = paper(alice)
    response = alice_api.post(f"{BASE}/{account.pk}/toggle")
    assert response.status_code == 200 and response.json()["enabled"] is False
    response = alice_api.post(f"{BASE}/{account.pk}/toggle")
    assert response.json()["enabled"] is True
    for _ in range(2):  # an explicit state is safe to send twice
        response = alice_api.post(f"{BASE}/{account.pk}/toggle", {"enabled": False}, format="json")
        assert response.status_code == 200 and response.json()["enabled"] is False
    assert ExchangeAccount.objects.get(pk=account.pk).enabled is False
    response = alice_api.post(f"{BASE}/{account.pk}/toggle", {"enabled": "maybe"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"enabled"}


def test_api_delete(alice_api, alice):
    account = real(alice)
    response = alice_api.delete(f"{BASE}/{account.pk}")
    assert response.status_code == 204
    assert not ExchangeAccount.objects.exists()
    assert alice_api.delete(f"{BASE}/{account.pk}").status_code == 404


def test_api_delete_is_refused_while_bots_use_the_account(alice_api, alice):
    account = paper(alice)
    bot_on(account, "BTC trend")
    bot_on(account, "ETH swing")
    response = alice_api.delete(f"{BASE}/{account.pk}")
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message == (
        "The bots BTC trend (BTC/USDT 1h), ETH swing (BTC/USDT 1h) trade on this account: delete them first."
    )
    assert ExchangeAccount.objects.filter(pk=account.pk).exists()
    assert Bot.objects.count() == 2


def test_api_test_endpoint(alice_api, alice, binance):
    binance.permissions |= {"withdraw": True}
    account = real(alice)
    response = alice_api.post(f"{BASE}/{account.pk}/test")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True and body["withdrawals_enabled"] is True
    assert body["warnings"][0] == connection.withdrawals_warning()
    assert {"asset": "BTC", "total": "0.5", "free": "0.5", "used": "0"} in body["balances"]
    assert body["account"]["last_test_ok"] is True and body["account"]["withdrawals_enabled"] is True
    assert_no_secret(response.content)


def test_api_test_endpoint_reports_a_failure_as_a_result(alice_api, alice, binance):
    binance.reject_keys = True
    binance.echo_requests = True
    response = alice_api.post(f"{BASE}/{real(alice).pk}/test")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False and body["balances"] == [] and "rejected the keys" in body["message"]
    assert_no_secret(response.content)


def test_api_other_users_accounts_are_404(charlie_api, alice):
    account = real(alice)
    bot_on(paper(alice))
    for method, url in (
        ("delete", f"{BASE}/{account.pk}"),
        ("post", f"{BASE}/{account.pk}/toggle"),
        ("post", f"{BASE}/{account.pk}/test"),
    ):
        response = getattr(charlie_api, method)(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"
    assert charlie_api.get(f"{BASE}/list").json()["count"] == 0
    account.refresh_from_db()
    assert account.enabled is True and account.last_test_at is None


def test_api_paths_are_in_the_schema(client):
    import yaml

    paths = yaml.safe_load(client.get("/api/v1/schema/").content)["paths"]
    assert {
        f"{BASE}/register",
        f"{BASE}/list",
        f"{BASE}/{{account_id}}",
        f"{BASE}/{{account_id}}/toggle",
        f"{BASE}/{{account_id}}/test",
    } <= set(paths)
    assert "api_key" not in str(paths[f"{BASE}/list"])


# --- the API keys page ---------------------------------------------------------------------------------------


def test_page_needs_a_signed_in_user(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_page_lists_your_accounts(alice_client, alice, bob):
    paper(alice)
    real(alice, testnet=True, market_type="swap")
    real(bob, label="Bob's secret stash")
    response = alice_client.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Practice" in html and "Binance main" in html and "Bob's secret stash" not in html
    assert "••••••" + API_KEY[-4:] in html
    assert "testnet" in html and "USDT-margined perpetual" in html
    assert 'href="/trading/keys/"' in html  # the nav link
    assert 'aria-current="page">API keys' in html
    assert "Two-factor authentication is off" in html
    assert_no_secret(html)


def test_page_form_fields_follow_the_exchange(alice_client):
    def fields(exchange):
        response = alice_client.get(PAGE, {"partial": "fields", "exchange": exchange}, **HTMX)
        assert response.status_code == 200
        return response.content.decode()

    html = fields("paper")
    assert 'name="paper_balance"' in html and 'name="api_key"' not in html
    html = fields("binance")
    assert 'name="api_key"' in html and 'name="secret"' in html and 'name="passphrase"' not in html
    assert 'name="testnet"' in html and 'name="paper_balance"' not in html
    html = fields("okx")
    assert 'name="passphrase"' in html and "Required: the passphrase" in html
    html = fields("other")
    assert 'name="other_exchange"' in html and 'name="passphrase"' in html
    assert 'name="paper_balance"' in fields("nonsense")  # falls back to paper


def test_page_create_paper_with_htmx(alice_client, alice):
    data = {"exchange": "paper", "label": "Practice", "market_type": "spot", "paper_balance": "5000"}
    response = alice_client.post(f"{PAGE}new/", data, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="exchange-accounts-body"' in html
    assert "Account “Practice” added: test its connection." in html
    account = ExchangeAccount.objects.get(user=alice)
    assert f'id="exchange-account-{account.pk}"' in html
    assert account.paper_balance == 5000


def test_page_create_okx_and_other_exchanges(alice_client, alice):
    data = {"exchange": "okx", "label": "OKX", "market_type": "swap", "api_key": API_KEY, "secret": SECRET}
    response = alice_client.post(f"{PAGE}new/", data | {"passphrase": PASSPHRASE}, **HTMX)
    assert response.status_code == 200
    assert_no_secret(response.content)
    data = {"exchange": "other", "other_exchange": "kraken", "label": "Kraken", "market_type": "spot"}
    response = alice_client.post(f"{PAGE}new/", data | {"api_key": API_KEY, "secret": SECRET, "testnet": "on"}, **HTMX)
    assert response.status_code == 200
    accounts = {a.exchange: a for a in ExchangeAccount.objects.filter(user=alice)}
    assert accounts["okx"].credentials()["passphrase"] == PASSPHRASE
    assert accounts["okx"].market_type == "swap"
    assert accounts["kraken"].testnet is True


def test_page_create_errors_show_in_the_form_without_the_keys(alice_client):
    data = {"exchange": "okx", "label": "OKX", "market_type": "spot", "api_key": API_KEY, "secret": SECRET}
    response = alice_client.post(f"{PAGE}new/", data, **HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert "OKX API keys come with a passphrase" in html
    assert 'value="OKX"' in html  # the label is kept...
    assert_no_secret(html)  # ...the keys are not put back into the page
    response = alice_client.post(f"{PAGE}new/", {"exchange": "other", "other_exchange": "Bad Id", "label": "x"}, **HTMX)
    assert response.status_code == 400
    assert "lower-case letters and digits" in response.content.decode()
    assert not ExchangeAccount.objects.exists()


def test_page_create_without_htmx(alice_client, alice):
    response = alice_client.post(f"{PAGE}new/", {"exchange": "paper", "label": "P", "market_type": "spot"})
    assert response.status_code == 302 and response["Location"] == PAGE
    response = alice_client.post(f"{PAGE}new/", {"exchange": "paper", "label": "P", "market_type": "spot"})
    assert response.status_code == 400
    assert "You already have an account called" in response.content.decode()


def test_page_toggle(alice_client, alice):
    account = paper(alice)
    response = alice_client.post(f"{PAGE}{account.pk}/toggle/", {"enabled": "0"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith(f'<tr id="exchange-account-{account.pk}"')
    assert "disabled" in html and 'name="enabled" value="1"' in html
    account.refresh_from_db()
    assert account.enabled is False
    assert alice_client.post(f"{PAGE}{account.pk}/toggle/").status_code == 302  # no htmx: flips, back to the page
    account.refresh_from_db()
    assert account.enabled is True


def test_page_test_connection(alice_client, alice, binance):
    binance.permissions |= {"withdraw": True}
    account = real(alice)
    response = alice_client.post(f"{PAGE}{account.pk}/test/", **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Connected to Binance (mainnet)" in html
    assert '<div class="notice message-error" role="alert"><strong>Withdrawals are enabled on this API key.' in html
    assert html.count("Withdrawals are enabled on this API key.") == 1  # shown once, not twice
    assert_no_secret(html)
    # The warning stays on the page until a test says otherwise.
    assert "Withdrawals are enabled on this API key." in alice_client.get(PAGE).content.decode()


def test_page_test_connection_failure(alice_client, alice, binance):
    binance.reject_keys = True
    account = real(alice)
    html = alice_client.post(f"{PAGE}{account.pk}/test/", **HTMX).content.decode()
    assert "failed" in html and "rejected the keys" in html
    response = alice_client.post(f"{PAGE}{account.pk}/test/", follow=True)
    assert "rejected the keys" in response.content.decode()


def test_page_delete(alice_client, alice):
    account = paper(alice)
    response = alice_client.post(f"{PAGE}{account.pk}/delete/", **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="exchange-account-list"' in html and "You have no exchange accounts yet" in html
    assert not ExchangeAccount.objects.exists()


def test_page_delete_refused_while_a_bot_uses_the_account(alice_client, alice):
    account = paper(alice)
    bot_on(account)
    response = alice_client.post(f"{PAGE}{account.pk}/delete/", **HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert "The bot BTC trend (BTC/USDT 1h) trades on this account: delete the bot first." in html
    assert f'id="exchange-account-{account.pk}"' in html
    response = alice_client.post(f"{PAGE}{account.pk}/delete/", follow=True)
    assert "delete the bot first" in response.content.decode()
    assert ExchangeAccount.objects.filter(pk=account.pk).exists()


def test_page_delete_asks_first(alice_client, alice):
    paper(alice)
    assert "hx-confirm=" in alice_client.get(PAGE).content.decode()


def test_page_other_users_accounts_are_404(bob_client, alice):
    account = real(alice)
    for action in ("toggle", "test", "delete"):
        assert bob_client.post(f"{PAGE}{account.pk}/{action}/", **HTMX).status_code == 404
        assert bob_client.post(f"{PAGE}{account.pk}/{action}/").status_code == 404
    account.refresh_from_db()
    assert account.enabled is True and account.last_test_at is None


def test_page_actions_are_post_only(alice_client, alice):
    account = paper(alice)
    for action in ("toggle", "test", "delete"):
        assert alice_client.get(f"{PAGE}{account.pk}/{action}/").status_code == 405
    assert alice_client.get(f"{PAGE}new/").status_code == 405


def test_page_in_korean(alice_client, alice):
    paper(alice)
    alice_client.cookies["django_language"] = "ko"
    assert alice_client.get(PAGE).status_code == 200


# --- no secret anywhere --------------------------------------------------------------------------------------


def test_no_secret_in_any_answer_page_or_log(caplog, alice_api, alice_client, admin_client, alice, binance):
    """Walk through everything a key touches, logging at DEBUG, and look for the plaintext keys."""
    caplog.set_level(logging.DEBUG)
    binance.echo_requests = True
    answers = []
    data = {"exchange": "okx", "label": "o", "api_key": API_KEY, "secret": SECRET}
    answers.append(alice_api.post(f"{BASE}/register", data, format="json"))  # 400, no passphrase
    data = {"exchange": "binance", "label": "b", "api_key": API_KEY, "secret": SECRET, "passphrase": PASSPHRASE}
    answers.append(alice_api.post(f"{BASE}/register", data, format="json"))
    account_id = answers[-1].json()["id"]
    answers.append(alice_api.get(f"{BASE}/list"))
    answers.append(alice_api.post(f"{BASE}/{account_id}/test"))
    binance.reject_keys = True
    answers.append(alice_api.post(f"{BASE}/{account_id}/test"))
    answers.append(alice_api.post(f"{BASE}/{account_id}/toggle"))
    answers.append(alice_client.get(PAGE))
    answers.append(alice_client.post(f"{PAGE}{account_id}/test/", **HTMX))
    answers.append(alice_client.post(f"{PAGE}new/", {"exchange": "binance", "label": "b", "api_key": API_KEY}, **HTMX))
    answers.append(admin_client.get("/admin/accounts/exchangeaccount/"))
    answers.append(admin_client.get(f"/admin/accounts/exchangeaccount/{account_id}/change/"))
    answers.append(alice_api.delete(f"{BASE}/{account_id}"))
    assert [a.status_code for a in answers] == [400, 201, 200, 200, 200, 200, 200, 200, 400, 200, 200, 204]
    for answer in answers:
        assert_no_secret(answer.content)
    assert caplog.records  # the walk did log (requests, connection tests)
    assert_no_secret(caplog.text)
    assert_no_secret(" ".join(str(record.args) for record in caplog.records))
