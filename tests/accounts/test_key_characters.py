"""Exchange keys are printable ASCII (issue 13): a zero-width space, a no-break space, Korean letters, a line
break or a tab in an API key, secret or passphrase is refused with a message naming the field, at the service
(the one place of truth), the keys page, the API and the wizard, and nothing is saved. Keys stored before this
check are classified as unusable keys by the connection test: no 500, no key in the log."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts import services
from accounts.models import ExchangeAccount
from tests.onboarding.conftest import HTMX, step_url
from tests.trading.conftest import binance_server, okx_server  # noqa: F401 - the fake exchanges on 127.0.0.1

pytestmark = pytest.mark.django_db

GOOD_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
GOOD_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
BAD = {
    "zero-width space": GOOD_KEY[:10] + "\u200b" + GOOD_KEY[10:],
    "no-break space at the end": GOOD_KEY + "\xa0",
    "Korean": GOOD_KEY[:20] + "키" + GOOD_KEY[20:],
    "line break inside": GOOD_KEY[:30] + "\n" + GOOD_KEY[30:],
    "tab": "\t" + GOOD_KEY,
    "byte-order mark": "\ufeff" + GOOD_KEY,
}
FIELD_NAMES = {"api_key": "API key", "secret": "API secret", "passphrase": "Passphrase"}


def okx_keys(**override):
    return {"api_key": GOOD_KEY, "secret": GOOD_SECRET, "passphrase": "Passphrase-1", **override}


@pytest.mark.parametrize("field", ["api_key", "secret", "passphrase"])
@pytest.mark.parametrize("case", list(BAD))
def test_the_service_refuses_a_key_outside_printable_ascii(alice, field, case):
    value = BAD[case]
    with pytest.raises(ValidationError) as caught:
        services.exchange_account_create(user=alice, exchange="okx", label="OKX", **okx_keys(**{field: value}))
    errors = caught.value.message_dict
    assert list(errors) == [field], errors
    message = errors[field][0]
    assert message.startswith(f"The {FIELD_NAMES[field]} contains a character that is not a plain letter"), message
    assert "U+" in message and value not in message and GOOD_KEY not in message  # names the character, not the key
    assert not ExchangeAccount.objects.exists()


def test_ordinary_spaces_and_line_breaks_at_the_ends_are_dropped(alice):
    account = services.exchange_account_create(
        user=alice,
        exchange="okx",
        label="OKX",
        api_key=f"  {GOOD_KEY} ",
        secret=f" {GOOD_SECRET}\r\n",
        passphrase="p a s s ",
    )
    assert account.credentials() == {"api_key": GOOD_KEY, "secret": GOOD_SECRET, "passphrase": "p a s s"}


def test_a_pem_private_key_keeps_its_line_breaks(alice):
    body = "MC4CAQAwBQYDK2VwBCIEIG3b2Hq7nS0bU1xFQ+0r9n4Wb2n1Zq0i8j6r5w9+/9kZ"
    pem = f"-----BEGIN PRIVATE KEY-----\r\n{body}\r\n-----END PRIVATE KEY-----\r\n"
    account = services.exchange_account_create(
        user=alice, exchange="binance", label="Ed25519", api_key=GOOD_KEY, secret=pem
    )
    assert account.credentials()["secret"] == pem.replace("\r\n", "\n").strip("\n")
    with pytest.raises(ValidationError):  # a PEM block is no licence for other characters
        services.exchange_account_create(
            user=alice, exchange="binance", label="Bad PEM", api_key=GOOD_KEY, secret=pem.replace("MC4C", "MC4C\u200b")
        )


def test_the_keys_page_refuses_it_with_the_field_named(alice_client):
    url = reverse("trading:exchange-account-create")
    data = {"exchange": "binance", "label": "Binance", "market_type": "spot", "api_key": BAD["zero-width space"],
            "secret": GOOD_SECRET}  # fmt: skip
    page = alice_client.post(url, data, **HTMX)
    assert page.status_code == 400
    assert "The API key contains a character that is not a plain letter" in page.content.decode()
    assert GOOD_KEY[:10] not in page.content.decode()  # the key is never rendered back
    data["api_key"], data["secret"] = GOOD_KEY, GOOD_SECRET + "\xa0"  # a no-break space at the end: not stripped
    page = alice_client.post(url, data)
    assert page.status_code == 400 and "The API secret contains a character" in page.content.decode()
    assert not ExchangeAccount.objects.exists()


def test_the_api_refuses_it_with_400_and_the_field(alice_api):
    for field in ("api_key", "secret", "passphrase"):
        data = {"exchange": "okx", "label": f"OKX {field}", **okx_keys(**{field: BAD["Korean"]})}
        response = alice_api.post("/api/v1/accounts-secure/register", data, format="json")
        assert response.status_code == 400, response.content
        error = response.json()["error"]
        assert list(error["fields"]) == [field] and "not a plain letter" in error["fields"][field][0]
    response = alice_api.post(
        "/api/v1/accounts-secure/register",
        {"exchange": "binance", "label": "Tab", "api_key": GOOD_KEY + "\t", "secret": GOOD_SECRET},
        format="json",
    )
    assert response.status_code == 400 and "api_key" in response.json()["error"]["fields"]
    assert not ExchangeAccount.objects.exists()


def test_the_wizard_refuses_it_and_keeps_nothing(alice, alice_client, binance_server, settings):  # noqa: F811
    settings.TRENDY_EXCHANGE_API_URLS = {"binance": binance_server.url}
    data = {"action": "connect", "exchange": "binance", "label": "Binance", "market_type": "spot",
            "api_key": binance_server.api_key + "\u200b", "secret": binance_server.secret}  # fmt: skip
    page = alice_client.post(step_url(1), data, **HTMX)
    assert page.status_code == 400
    assert "The API key contains a character that is not a plain letter" in page.content.decode()
    assert not ExchangeAccount.objects.exists() and binance_server.requests == []


def _stored_before_the_fix(user, exchange, **keys):
    """An account saved before the check existed: sealed as given, without the service's cleaning."""
    account = ExchangeAccount(user=user, exchange=exchange, label=f"Old {exchange}")
    account.set_credentials(**keys)
    account.save()
    return account


@pytest.mark.parametrize("venue", ["binance", "okx"])
def test_a_key_stored_before_the_fix_fails_the_test_cleanly(alice_api, alice, venue, request, settings, caplog):
    server = request.getfixturevalue(f"{venue}_server")
    settings.TRENDY_EXCHANGE_API_URLS = {venue: server.url}
    keys = {"api_key": server.api_key + "\u200b", "secret": server.secret}
    if venue == "okx":
        keys = {"api_key": server.api_key, "secret": server.secret, "passphrase": server.passphrase + "\xa0"}
    account = _stored_before_the_fix(alice, venue, **keys)
    caplog.set_level(logging.DEBUG)
    response = alice_api.post(f"/api/v1/accounts-secure/{account.pk}/test")  # was a 500 (UnicodeEncodeError)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is False and "not printable ASCII" in body["message"]
    account.refresh_from_db()
    assert account.last_test_ok is False and account.last_test_detail["kind"] == "keys_unusable"
    logged = "\n".join(caplog.messages) + "\n".join(r.exc_text or "" for r in caplog.records)
    for value in keys.values():
        assert value.strip() not in logged
