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


# --- account e-mail names Trendy (issue 12) ---------------------------------------------------------------------

HOST = "127.0.0.1:8000"  # the development server's address, which allauth used to put in the mails
URL = re.compile(r"https?://\S+")


def _mail_client(client, language: str):
    client.defaults["HTTP_HOST"] = HOST
    client.cookies["django_language"] = language
    return client


def _assert_names_trendy(message, *, subject: str, phrases: list[str]) -> list[str]:
    """The subject and body name Trendy and read in the expected language; the host appears only inside the
    links, which point at it. Returns the links."""
    assert message.subject == f"[Trendy] {subject}", message.subject
    links = URL.findall(message.body)
    text = URL.sub("", message.body)
    assert "Trendy" in text and HOST not in text and "127.0.0.1" not in text, message.body
    assert "testserver" not in message.body and "example.com" not in text.replace(message.to[0], "")
    for phrase in phrases:
        assert phrase in message.body, message.body
    assert links and all(link.startswith(f"http://{HOST}/") for link in links), links
    return links


@pytest.mark.parametrize(
    ("language", "subject", "phrases"),
    [
        ("en", "Confirm your e-mail address to finish signing up", ["Hello from Trendy,", "You signed up for Trendy"]),
        ("ko", "이메일 주소를 확인하고 가입을 마무리하세요", ["안녕하세요, Trendy입니다.", "Trendy에 가입하셨습니다"]),
    ],
)
def test_the_signup_confirmation_names_trendy_and_links_to_the_host(client, language, subject, phrases):
    _mail_client(client, language).post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": "a-long-Passphrase-77", "password2": "a-long-Passphrase-77"},
    )
    assert len(mail.outbox) == 1
    (link,) = _assert_names_trendy(mail.outbox[0], subject=subject, phrases=phrases)
    assert "/accounts/confirm-email/" in link
    assert client.get(link.removeprefix(f"http://{HOST}")).status_code == 200  # the link opens the confirmation


@pytest.mark.parametrize(
    ("language", "subject", "phrases"),
    [
        (
            "en",
            "Confirm your e-mail address",
            ["Confirm that unverified@example.com is your e-mail address for Trendy"],
        ),
        ("ko", "이메일 주소를 확인해 주세요", ["unverified@example.com 주소가 회원님의 Trendy 이메일 주소인지"]),
    ],
)
def test_the_confirmation_sent_again_at_sign_in_names_trendy(client, language, subject, phrases):
    from tests.factories import UserFactory

    UserFactory(email="unverified@example.com", verified=False)
    _mail_client(client, language).post(
        "/accounts/login/", {"login": "unverified@example.com", "password": "correct-horse-battery-9"}
    )
    assert len(mail.outbox) == 1
    _assert_names_trendy(mail.outbox[0], subject=subject, phrases=phrases)


@pytest.mark.parametrize(
    ("language", "subject", "phrases"),
    [
        ("en", "Reset your password", ["reset the password of your Trendy account"]),
        ("ko", "비밀번호를 재설정하세요", ["Trendy 계정 비밀번호 재설정"]),
    ],
)
def test_the_password_reset_names_trendy_and_its_link_works(client, alice, language, subject, phrases):
    _mail_client(client, language).post("/accounts/password/reset/", {"email": "alice@example.com"})
    (link,) = _assert_names_trendy(mail.outbox[0], subject=subject, phrases=phrases)
    response = client.get(link.removeprefix(f"http://{HOST}"), follow=True)
    assert response.status_code == 200 and b'name="password1"' in response.content


@pytest.mark.parametrize(
    ("language", "subject", "phrases"),
    [
        ("en", "No Trendy account with this address", ["there is no account with this address"]),
        ("ko", "이 주소로 가입된 Trendy 계정이 없습니다", ["가입된 계정이 없습니다"]),
    ],
)
def test_the_unknown_account_mail_names_trendy(client, language, subject, phrases):
    _mail_client(client, language).post("/accounts/password/reset/", {"email": "nobody@example.com"})
    (link,) = _assert_names_trendy(mail.outbox[0], subject=subject, phrases=phrases)
    assert link.endswith("/accounts/signup/")


@pytest.mark.parametrize(
    ("language", "subject", "phrases"),
    [
        ("en", "You already have a Trendy account", ["an account with this address already exists"]),
        ("ko", "이미 Trendy 계정이 있습니다", ["계정이 이미 있습니다"]),
    ],
)
def test_the_account_exists_mail_names_trendy(client, alice, language, subject, phrases):
    _mail_client(client, language).post(
        "/accounts/signup/",
        {"email": "alice@example.com", "password1": "a-long-Passphrase-77", "password2": "a-long-Passphrase-77"},
    )
    (link,) = _assert_names_trendy(mail.outbox[-1], subject=subject, phrases=phrases)
    assert link.endswith("/accounts/password/reset/")


def test_two_factor_sends_no_notice_by_default(client, alice, password, django_capture_on_commit_callbacks):
    """allauth's security notices (ACCOUNT_EMAIL_NOTIFICATIONS) are off: turning two-factor on mails nothing."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _enrol_totp(client, alice, password)
    assert callbacks and mail.outbox == []


@pytest.mark.parametrize(
    ("language", "phrases"), [("en", ["Hello from Trendy,", "Time: "]), ("ko", ["안녕하세요, Trendy입니다.", "시각: "])]
)
def test_security_notices_name_trendy_when_turned_on(
    client, alice, password, settings, language, phrases, django_capture_on_commit_callbacks
):
    """Should the notices be turned on, they read right too: Trendy's greeting and a formatted time."""
    settings.ACCOUNT_EMAIL_NOTIFICATIONS = True
    _mail_client(client, language)
    with django_capture_on_commit_callbacks(execute=True):  # allauth sends it once the enrolment commits
        _enrol_totp(client, alice, password)
    (notice,) = mail.outbox
    assert notice.subject.startswith("[Trendy] ")
    text = URL.sub("", notice.body)
    assert HOST not in text and "testserver" not in text
    for phrase in phrases:
        assert phrase in notice.body, notice.body
