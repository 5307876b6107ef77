"""Sign-up, e-mail verification, login, password reset and TOTP two-factor, through allauth's real views."""

import re

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time
from django.core import mail

from accounts import secrets
from accounts.models import RiskProfile, User

pytestmark = pytest.mark.django_db


def totp_now(secret: str) -> str:
    counter = next(iter(yield_hotp_counters_from_time()))
    return format_hotp_value(hotp_value(secret, counter))


def _link(message) -> str:
    match = re.search(r"http://testserver(/\S+)", message.body)
    assert match, message.body
    return match.group(1)


def test_signup_verify_login(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "New.Trader@Example.com", "password1": "a-long-Passphrase-77", "password2": "a-long-Passphrase-77"},
    )
    assert response.status_code == 302
    user = User.objects.get(email="new.trader@example.com")
    assert RiskProfile.objects.filter(user=user).exists()
    assert not EmailAddress.objects.get(user=user).verified
    assert len(mail.outbox) == 1

    # Not verified yet: login is held at the verification step.
    client.logout()
    response = client.post("/accounts/login/", {"login": "new.trader@example.com", "password": "a-long-Passphrase-77"})
    assert response.status_code == 302
    assert "confirm-email" in response["Location"]
    assert "_auth_user_id" not in client.session

    confirm = _link(mail.outbox[-1])
    client.post(confirm)
    assert EmailAddress.objects.get(user=user).verified

    client.logout()
    response = client.post("/accounts/login/", {"login": "new.trader@example.com", "password": "a-long-Passphrase-77"})
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk


def test_signup_with_taken_email_is_refused(client, alice):
    response = client.post(
        "/accounts/signup/",
        {"email": "ALICE@example.com", "password1": "a-long-Passphrase-77", "password2": "a-long-Passphrase-77"},
    )
    # allauth's enumeration prevention: the page does not say the address is taken, it mails the owner
    # instead, and no second account is made.
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1
    assert response.status_code in (200, 302)
    assert any("alice@example.com" in m.to for m in mail.outbox)


@pytest.mark.parametrize(
    ("password", "message"),
    [("short1", "too short"), ("password1234", "too common"), ("12345678901234", "entirely numeric")],
)
def test_signup_with_weak_password_is_refused(client, password, message):
    response = client.post(
        "/accounts/signup/", {"email": "x@example.com", "password1": password, "password2": password}
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(email="x@example.com").exists()


def test_wrong_password(client, alice):
    response = client.post("/accounts/login/", {"login": "alice@example.com", "password": "nope-nope-nope"})
    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_password_reset(client, alice):
    client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    assert len(mail.outbox) == 1
    response = client.get(_link(mail.outbox[0]), follow=True)
    form_url = response.redirect_chain[-1][0] if response.redirect_chain else _link(mail.outbox[0])
    response = client.post(form_url, {"password1": "brand-new-Secret-42", "password2": "brand-new-Secret-42"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("brand-new-Secret-42")


def _enrol_totp(client, user, password) -> str:
    client.post("/accounts/login/", {"login": user.email, "password": password})
    # Turning on two-factor asks for the password again (allauth's reauthentication).
    assert client.get("/accounts/2fa/totp/activate/")["Location"].startswith("/accounts/reauthenticate/")
    client.post("/accounts/reauthenticate/", {"password": password})
    response = client.get("/accounts/2fa/totp/activate/")
    assert response.status_code == 200
    secret = client.session["mfa.totp.secret"]
    response = client.post("/accounts/2fa/totp/activate/", {"code": totp_now(secret)})
    assert response.status_code == 302, response.content.decode()[:2000]
    return secret


def test_totp_enrolment_stores_the_secret_sealed(client, alice, password):
    secret = _enrol_totp(client, alice, password)
    auth = Authenticator.objects.get(user=alice, type="totp")
    stored = auth.data["secret"]
    assert secret not in stored
    assert stored.startswith("tv1$")
    assert secrets.decrypt(stored, context=secrets.MFA_CONTEXT) == secret


def test_login_with_totp(client, alice, password):
    secret = _enrol_totp(client, alice, password)
    client.logout()
    from django.core.cache import cache

    cache.clear()  # the enrolment code is marked used; a fresh code in the same 30 s window would be refused

    response = client.post("/accounts/login/", {"login": alice.email, "password": password})
    assert response.status_code == 302
    assert "2fa/authenticate" in response["Location"]
    assert "_auth_user_id" not in client.session

    response = client.post(
        "/accounts/2fa/authenticate/", {"code": "000000" if totp_now(secret) != "000000" else "111111"}
    )
    assert response.status_code == 200
    assert "Incorrect code" in response.content.decode()
    assert "_auth_user_id" not in client.session

    response = client.post("/accounts/2fa/authenticate/", {"code": totp_now(secret)})
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == alice.pk
