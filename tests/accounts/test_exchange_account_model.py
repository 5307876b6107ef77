"""Exchange accounts on the accounts side: the services' checks, the sealed keys, rotation and the admin."""

import os
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from accounts import secrets, selectors, services
from accounts.crypto import CryptoError, key_id
from accounts.models import ExchangeAccount
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

API_KEY = "AbCdEfGh-plain-api-key-7Q9x"
SECRET = "s3cr3t-plain-secret-value-Zz81"
PASSPHRASE = "my-okx-pass-phrase"


def binance(user, **overrides):
    values = {"user": user, "exchange": "binance", "label": "Binance main", "api_key": API_KEY, "secret": SECRET}
    return services.exchange_account_create(**(values | overrides))


def fields_of(exc_info) -> dict:
    return exc_info.value.message_dict


# --- create: defaults and checks ---------------------------------------------------------------------------


def test_paper_account_starts_with_10000_usdt_and_no_keys(alice):
    account = services.exchange_account_create(user=alice, exchange="paper", label="Practice", testnet=True)
    assert account.paper_balance == Decimal(10_000)
    assert account.testnet is False  # a paper account has no testnet
    assert account.enabled is True
    assert account.key_hint == "" and account.api_key == "" and account.secret == ""
    assert account.credentials() == {"api_key": "", "secret": "", "passphrase": ""}
    assert selectors.exchange_account_masked_key(account) == ""


@pytest.mark.parametrize("balance", ["2500.50", 2500.5, Decimal("2500.50")])
def test_paper_starting_balance(alice, balance):
    account = services.exchange_account_create(user=alice, exchange="paper", label="p", paper_balance=balance)
    account.refresh_from_db()
    assert account.paper_balance == Decimal("2500.50")


@pytest.mark.parametrize("balance", ["0", "-5", "1000000000000.01", "1e13", "abc", "1.005", "NaN", "Infinity"])
def test_paper_starting_balance_limits(alice, balance):
    with pytest.raises(ValidationError) as exc_info:
        services.exchange_account_create(user=alice, exchange="paper", label="p", paper_balance=balance)
    assert list(fields_of(exc_info)) == ["paper_balance"]
    assert not ExchangeAccount.objects.exists()


def test_the_largest_paper_balance_is_allowed(alice):
    account = services.exchange_account_create(user=alice, exchange="paper", label="p", paper_balance=Decimal(10) ** 12)
    assert account.paper_balance == Decimal("1000000000000")


def test_binance_account_seals_its_keys(alice):
    account = binance(alice, testnet=True, market_type="swap")
    assert (account.exchange, account.testnet, account.market_type) == ("binance", True, "swap")
    assert account.paper_balance is None
    assert account.key_hint == API_KEY[-4:]
    assert selectors.exchange_account_masked_key(account) == "••••••" + API_KEY[-4:]
    account = ExchangeAccount.objects.get(pk=account.pk)
    assert account.credentials() == {"api_key": API_KEY, "secret": SECRET, "passphrase": ""}


def test_keys_are_trimmed_and_the_exchange_id_lowered(alice):
    account = binance(alice, exchange=" Binance ", api_key=f"  {API_KEY}\n", secret=f"{SECRET}\n")
    assert account.exchange == "binance"
    assert account.credentials()["api_key"] == API_KEY
    assert account.credentials()["secret"] == SECRET


def test_keys_are_required_for_a_real_exchange(alice):
    with pytest.raises(ValidationError) as exc_info:
        binance(alice, api_key="", secret=" ")
    errors = fields_of(exc_info)
    assert errors["api_key"] == ["Enter the API key."]
    assert errors["secret"] == ["Enter the API secret."]
    assert not ExchangeAccount.objects.exists()


def test_okx_needs_its_passphrase(alice):
    with pytest.raises(ValidationError) as exc_info:
        binance(alice, exchange="okx")
    assert list(fields_of(exc_info)) == ["passphrase"]
    account = binance(alice, exchange="okx", passphrase=PASSPHRASE)
    assert account.credentials()["passphrase"] == PASSPHRASE


def test_other_ccxt_ids_are_accepted_and_checked_by_the_connection_test(alice):
    account = binance(alice, exchange="kraken")
    assert account.exchange == "kraken"
    assert binance(alice, exchange="nosuchexchange1", label="typo").exchange == "nosuchexchange1"


@pytest.mark.parametrize("exchange", ["", "b", "bin ance", "okx!", "../etc", "x" * 33, "coinbase-pro"])
def test_exchange_ids_are_letters_and_digits(alice, exchange):
    with pytest.raises(ValidationError) as exc_info:
        binance(alice, exchange=exchange)
    assert list(fields_of(exc_info)) == ["exchange"]


def test_everything_wrong_is_reported_at_once(alice):
    with pytest.raises(ValidationError) as exc_info:
        services.exchange_account_create(user=alice, exchange="okx", label=" ", market_type="options")
    assert set(fields_of(exc_info)) == {"label", "market_type", "api_key", "secret", "passphrase"}


def test_paper_takes_no_keys_and_real_exchanges_no_starting_balance(alice):
    with pytest.raises(ValidationError) as exc_info:
        services.exchange_account_create(user=alice, exchange="paper", label="p", api_key=API_KEY)
    assert list(fields_of(exc_info)) == ["api_key"]
    with pytest.raises(ValidationError) as exc_info:
        binance(alice, paper_balance="100")
    assert list(fields_of(exc_info)) == ["paper_balance"]


def test_label_is_unique_per_user(alice, bob):
    binance(alice)
    with pytest.raises(ValidationError) as exc_info:
        services.exchange_account_create(user=alice, exchange="paper", label="binance MAIN ")
    assert fields_of(exc_info) == {
        "label": ["You already have an account called “binance MAIN”: choose another label."]
    }
    assert binance(bob).label == "Binance main"  # another user may use the same label
    with pytest.raises(ValidationError) as exc_info:
        binance(alice, label="x" * 101)
    assert list(fields_of(exc_info)) == ["label"]


def test_a_label_taken_by_a_concurrent_request_is_a_validation_error(alice, monkeypatch):
    binance(alice)
    answers = iter([False, True])  # free when checked, taken when the insert fails
    monkeypatch.setattr(services, "_label_taken", lambda **kwargs: next(answers))
    with pytest.raises(ValidationError) as exc_info:
        binance(alice)
    assert list(fields_of(exc_info)) == ["label"]
    assert ExchangeAccount.objects.count() == 1


def test_validation_messages_never_quote_the_keys(alice):
    with pytest.raises(ValidationError) as exc_info:
        binance(alice, exchange="okx", api_key=API_KEY, secret=SECRET, label="")
    text = str(exc_info.value.message_dict)
    assert API_KEY not in text and SECRET not in text


# --- enable, record a test, delete -------------------------------------------------------------------------


def test_set_enabled(alice):
    account = binance(alice)
    services.exchange_account_set_enabled(account=account, enabled=False)
    assert ExchangeAccount.objects.get(pk=account.pk).enabled is False
    services.exchange_account_set_enabled(account=account, enabled=True)
    assert ExchangeAccount.objects.get(pk=account.pk).enabled is True


def test_record_test_keeps_the_withdrawals_flag_when_a_test_fails(alice):
    account = binance(alice)
    services.exchange_account_record_test(account=account, ok=True, message="Connected.", withdrawals_enabled=True)
    stored = ExchangeAccount.objects.get(pk=account.pk)
    assert (stored.last_test_ok, stored.last_test_message, stored.withdrawals_enabled) == (True, "Connected.", True)
    assert stored.last_test_at is not None
    services.exchange_account_record_test(account=account, ok=False, message="Unreachable.", withdrawals_enabled=None)
    stored = ExchangeAccount.objects.get(pk=account.pk)
    assert (stored.last_test_ok, stored.last_test_message, stored.withdrawals_enabled) == (False, "Unreachable.", True)
    services.exchange_account_record_test(account=account, ok=True, message="Connected.", withdrawals_enabled=False)
    assert ExchangeAccount.objects.get(pk=account.pk).withdrawals_enabled is False


def test_delete(alice):
    account = binance(alice)
    services.exchange_account_delete(account=account)
    assert not ExchangeAccount.objects.exists()


# --- sealing -----------------------------------------------------------------------------------------------


def test_the_database_holds_only_ciphertext(alice):
    account = binance(alice, exchange="okx", passphrase=PASSPHRASE)
    row = ExchangeAccount.objects.filter(pk=account.pk).values("api_key", "secret", "passphrase", "key_hint").get()
    for name, plain in (("api_key", API_KEY), ("secret", SECRET), ("passphrase", PASSPHRASE)):
        assert row[name].startswith("tv1$")
        assert plain not in row[name]
    assert row["key_hint"] == API_KEY[-4:]
    # Two accounts with the same key get different ciphertexts (fresh nonces).
    other = binance(alice, label="again")
    assert ExchangeAccount.objects.get(pk=other.pk).api_key != row["api_key"]


def test_a_sealed_key_opens_only_for_its_owner(alice, bob):
    sealed = binance(alice)
    bobs = binance(bob)
    # Copy alice's sealed values onto bob's row: they do not open there.
    ExchangeAccount.objects.filter(pk=bobs.pk).update(api_key=sealed.api_key, secret=sealed.secret)
    with pytest.raises(CryptoError):
        ExchangeAccount.objects.get(pk=bobs.pk).credentials()
    field = ExchangeAccount._meta.get_field("api_key")
    with pytest.raises(CryptoError):
        secrets.decrypt(sealed.api_key, context=field.context_for(bob.pk))
    assert secrets.decrypt(sealed.api_key, context=field.context_for(alice.pk)) == API_KEY
    # ...nor under another field's context (the secret is not a valid API key and vice versa).
    with pytest.raises(CryptoError):
        secrets.decrypt(sealed.secret, context=field.context_for(alice.pk))


def test_rotate_keys_reseals_exchange_keys(settings, alice, capsys):
    old, new = os.urandom(32), os.urandom(32)
    settings.TRENDY_ENCRYPTION_KEYS = [old]
    account = binance(alice, exchange="okx", passphrase=PASSPHRASE)
    settings.TRENDY_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_keys")
    assert "re-encrypted 3 rows" in capsys.readouterr().out  # key, secret and passphrase
    row = ExchangeAccount.objects.filter(pk=account.pk).values("api_key", "secret", "passphrase").get()
    assert {value.split("$")[1] for value in row.values()} == {key_id(new)}
    settings.TRENDY_ENCRYPTION_KEYS = [new]  # the old key may go now
    assert ExchangeAccount.objects.get(pk=account.pk).credentials() == {
        "api_key": API_KEY,
        "secret": SECRET,
        "passphrase": PASSPHRASE,
    }


# --- admin -------------------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client):
    staff = UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    client.force_login(staff)
    return client


def test_admin_shows_the_masked_key_only(staff_client, alice):
    account = binance(alice, exchange="okx", passphrase=PASSPHRASE)
    sealed = ExchangeAccount.objects.filter(pk=account.pk).values("api_key", "secret", "passphrase").get()
    pages = [
        staff_client.get("/admin/accounts/exchangeaccount/"),
        staff_client.get("/admin/accounts/exchangeaccount/?q=alice"),
        staff_client.get(f"/admin/accounts/exchangeaccount/{account.pk}/change/"),
    ]
    for response in pages:
        assert response.status_code == 200
        html = response.content.decode()
        for value in (API_KEY, SECRET, PASSPHRASE, *sealed.values()):
            assert value not in html
        assert "••••••" + API_KEY[-4:] in html


def test_admin_cannot_add_or_edit_accounts(staff_client, alice):
    account = binance(alice)
    assert staff_client.get("/admin/accounts/exchangeaccount/add/").status_code == 403
    url = f"/admin/accounts/exchangeaccount/{account.pk}/change/"
    html = staff_client.get(url).content.decode()
    assert 'name="label"' not in html  # read-only
    response = staff_client.post(url, {"label": "hijacked", "exchange": "kraken"})
    assert response.status_code == 403
    account.refresh_from_db()
    assert (account.label, account.exchange) == ("Binance main", "binance")


def test_admin_disables_accounts_through_the_service(staff_client, alice):
    account = binance(alice)
    response = staff_client.post(
        "/admin/accounts/exchangeaccount/", {"action": "disable", "_selected_action": [account.pk]}
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.enabled is False
    staff_client.post("/admin/accounts/exchangeaccount/", {"action": "enable", "_selected_action": [account.pk]})
    account.refresh_from_db()
    assert account.enabled is True
