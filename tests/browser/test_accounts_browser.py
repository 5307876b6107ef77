"""A new trader in a real browser: sign up, verify, turn on two-factor, sign in with it; staff and API docs."""

import re
import time

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time
from django.core import mail
from django.core.cache import cache

from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-Passphrase-77"


def totp(secret: str) -> str:
    """The current code, taken at least 3 s before its 30-second period ends: a code read in a period's last
    moment reaches the server in the next one, which (tolerance 0) refuses it."""
    if time.time() % 30 > 27:
        time.sleep(30 - time.time() % 30 + 0.1)
    return format_hotp_value(hotp_value(secret, next(iter(yield_hotp_counters_from_time()))))


def test_signup_verify_2fa_and_login(page, live_server):
    page.goto("/")
    page.get_by_role("link", name="Create an account").click()
    page.fill("input[name=email]", "trader@example.com")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/accounts/confirm-email/"))

    link = re.search(r"http://[^/\s]+(/accounts/confirm-email/\S+)", mail.outbox[-1].body).group(1)
    page.goto(link)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.locator(".user-email").text_content() == "trader@example.com"

    # Two-factor: the settings page says it is off and leads to the enrolment.
    page.goto("/settings/")
    assert page.get_by_text("Two-factor authentication is off").is_visible()
    page.get_by_role("link", name="Manage two-factor authentication").click()
    page.goto("/accounts/2fa/totp/activate/")
    page.wait_for_url(re.compile(r"/accounts/reauthenticate/"))
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/accounts/2fa/totp/activate/"))
    secret = page.input_value("#authenticator_secret")
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret)
    page.fill("input[name=code]", totp(secret))
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/accounts/2fa/"))
    page.goto("/settings/")
    assert page.get_by_text("Two-factor authentication is on").is_visible()

    # Sign out, sign back in: the password alone is not enough.
    page.locator(".account-menu summary").click()  # the account's menu, under "Account" in the header
    page.locator(".account-menu").get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/$"))
    cache.clear()  # the enrolment code was used; allow the same 30-second code once more
    page.goto("/accounts/login/")
    page.fill("input[name=login]", "trader@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/accounts/2fa/authenticate/"))
    code_submit = page.locator("form:has(input[name=code]) button[type=submit]").first
    page.fill("input[name=code]", "000000" if totp(secret) != "000000" else "111111")
    code_submit.click()
    page.get_by_text("Incorrect code").wait_for()
    page.fill("input[name=code]", totp(secret))
    code_submit.click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.locator(".user-email").text_content() == "trader@example.com"
    assert User.objects.get(email="trader@example.com").authenticator_set.filter(type="totp").exists()


def test_api_token_with_htmx_and_risk_settings(page, live_server):
    user = UserFactory(email="alice@example.com")
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", "correct-horse-battery-9")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/$"))

    page.goto("/settings/")
    page.fill("#id_leverage", "12")
    page.get_by_role("button", name="Save risk settings").click()
    assert page.get_by_text("less than or equal to 10").is_visible()
    page.fill("#id_leverage", "3")
    page.get_by_role("button", name="Save risk settings").click()
    assert page.get_by_text("Your risk settings are saved.").is_visible()
    user.risk_profile.refresh_from_db()
    assert user.risk_profile.leverage == 3

    # htmx: the token list is swapped in place, with the new key shown once.
    page.fill("#id_name", "phone")
    page.get_by_role("button", name="Create token").click()
    key = page.locator("#new-token").inner_text()
    assert key.startswith("tdy_")
    assert page.url.endswith("/settings/")
    response = page.request.get("/api/v1/me/", headers={"Authorization": f"Bearer {key}"})
    assert response.ok and response.json()["email"] == "alice@example.com"
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    page.get_by_text("You have no API tokens.").wait_for()


def test_admin_and_api_docs(page, live_server):
    UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    page.goto("/admin/")
    page.fill("input[name=username]", "staff@example.com")
    page.fill("input[name=password]", "correct-horse-battery-9")
    page.locator("input[type=submit]").click()
    page.get_by_role("link", name="Risk profiles").wait_for()

    page.goto("/api/v1/docs/")
    page.locator(".swagger-ui .info .title").wait_for()
    assert "Trendy API" in page.locator(".swagger-ui .info .title").inner_text()
    page.get_by_text("/api/v1/auth/token/").first.wait_for()
