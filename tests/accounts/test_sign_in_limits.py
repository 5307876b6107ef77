"""Sign-in rate limits (issue 13, "Abuse of the public doors"): atomic, per account and address, per address,
per account from everywhere — for the HTML login and the API token endpoint alike — and the owner is never
locked out by someone guessing from one address."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from accounts import sign_in_limits
from accounts.api import TokenObtainApi
from accounts.models import ApiToken
from tests.conftest import needs_redis

TOKEN_URL = "/api/v1/auth/token/"
LOGIN_URL = "/accounts/login/"
ATTACKER = "203.0.113.9"
OWNER = "198.51.100.7"


@pytest.fixture
def no_drf_throttle(monkeypatch):
    """DRF's own per-address throttle sits in front of the token endpoint; these tests are about ours."""
    monkeypatch.setattr(TokenObtainApi, "throttle_classes", [])


@pytest.fixture
def password_checks(monkeypatch):
    """How many times a password was actually checked, through either door."""
    import allauth.account.adapter

    import accounts.api

    calls: list[str] = []
    lock = threading.Lock()

    def counting(original):
        def authenticate(*args, **kwargs):
            with lock:
                calls.append(kwargs.get("email") or kwargs.get("username") or "")
            return original(*args, **kwargs)

        return authenticate

    monkeypatch.setattr(accounts.api, "authenticate", counting(accounts.api.authenticate))
    monkeypatch.setattr(allauth.account.adapter, "authenticate", counting(allauth.account.adapter.authenticate))
    return calls


def in_parallel(count: int, send) -> list:
    barrier = threading.Barrier(count)
    answers: list = [None] * count

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            answers[i] = send(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(a is not None for a in answers)
    return answers


def api_sign_in(email: str, password: str, ip: str):
    return APIClient(REMOTE_ADDR=ip).post(TOKEN_URL, {"email": email, "password": password})


def html_sign_in(email: str, password: str, ip: str, client: Client | None = None):
    return (client or Client(REMOTE_ADDR=ip)).post(LOGIN_URL, {"login": email, "password": password}, REMOTE_ADDR=ip)


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_thirty_parallel_wrong_passwords_at_the_api_get_at_most_the_limit_checked(
    alice, no_drf_throttle, password_checks
):
    answers = in_parallel(30, lambda i: api_sign_in(alice.email, f"wrong-guess-{i}", ATTACKER))
    assert len(password_checks) <= sign_in_limits.PAIR_LIMIT, len(password_checks)
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(401) == len(password_checks) and statuses.count(429) == 30 - len(password_checks), statuses
    refused = next(a for a in answers if a.status_code == 429)
    assert int(refused["Retry-After"]) > 0


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_thirty_parallel_wrong_passwords_at_the_html_login_get_at_most_the_limit_checked(alice, password_checks):
    answers = in_parallel(30, lambda i: html_sign_in(alice.email, f"wrong-guess-{i}", ATTACKER))
    assert len(password_checks) <= sign_in_limits.PAIR_LIMIT, len(password_checks)
    # The form again with the reason (or allauth's own 429 for the page when its lock is contended).
    assert all(a.status_code in (200, 429) for a in answers)


@pytest.mark.django_db
def test_the_owner_signs_in_at_the_api_while_an_attacker_hammers_from_one_address(
    alice, password, no_drf_throttle, password_checks
):
    for i in range(40):
        assert api_sign_in(alice.email, f"wrong-guess-{i}", ATTACKER).status_code in (401, 429)
    assert len(password_checks) == sign_in_limits.PAIR_LIMIT
    assert api_sign_in(alice.email, password, ATTACKER).status_code == 429  # the right one too, from there
    response = api_sign_in(alice.email, password, OWNER)
    assert response.status_code == 201, response.content
    assert ApiToken.objects.filter(user=alice).count() == 1


@pytest.mark.django_db
def test_the_owner_signs_in_at_the_html_login_while_an_attacker_hammers_from_one_address(
    alice, password, password_checks
):
    for i in range(40):
        html_sign_in(alice.email, f"wrong-guess-{i}", ATTACKER)
    assert len(password_checks) == sign_in_limits.PAIR_LIMIT
    owner = Client()
    response = html_sign_in(alice.email, password, OWNER, owner)
    assert response.status_code == 302, response.content.decode()[:500]
    assert owner.session["_auth_user_id"] == str(alice.pk)


@pytest.mark.django_db
def test_a_guess_spread_over_many_addresses_slows_new_addresses_only(
    alice, password, no_drf_throttle, password_checks, monkeypatch
):
    monkeypatch.setattr(sign_in_limits, "ACCOUNT_LIMIT", 12)
    assert api_sign_in(alice.email, password, OWNER).status_code == 201  # the owner's usual address
    for i in range(30):  # three guesses from each of ten addresses: within the per-address limits
        api_sign_in(alice.email, f"wrong-guess-{i}", f"192.0.2.{i // 3 + 1}")
    assert len(password_checks) == 1 + 12  # the owner's sign-in gave its attempt back
    new_address = api_sign_in(alice.email, password, "192.0.2.200")
    assert new_address.status_code == 429  # the account is under attack: new addresses wait
    assert api_sign_in(alice.email, password, OWNER).status_code == 201  # the owner's known address does not
    html = html_sign_in(alice.email, password, OWNER)
    assert html.status_code == 302


@pytest.mark.django_db
def test_one_address_spraying_many_accounts_is_stopped(no_drf_throttle, password_checks):
    for i in range(sign_in_limits.IP_LIMIT + 10):
        api_sign_in(f"victim{i}@example.com", "wrong-guess", ATTACKER)
    assert len(password_checks) == sign_in_limits.IP_LIMIT


@pytest.mark.django_db
def test_a_right_password_gives_its_attempt_back(alice, password, no_drf_throttle):
    for _ in range(sign_in_limits.PAIR_LIMIT + 3):
        assert api_sign_in(alice.email, password, OWNER).status_code == 201


@pytest.mark.django_db
def test_wrong_two_factor_codes_count_as_failures(alice, password, no_drf_throttle, monkeypatch):
    from allauth.mfa.models import Authenticator

    Authenticator.objects.create(user=alice, type=Authenticator.Type.TOTP, data={"secret": "x"})
    import accounts.api

    monkeypatch.setattr(accounts.api.TOTP, "validate_code", lambda self, code: False)
    statuses = [
        APIClient(REMOTE_ADDR=ATTACKER)
        .post(TOKEN_URL, {"email": alice.email, "password": password, "totp_code": "123456"})
        .status_code
        for _ in range(sign_in_limits.PAIR_LIMIT + 2)
    ]
    assert statuses == [401] * sign_in_limits.PAIR_LIMIT + [429] * 2


def test_ipv6_addresses_count_per_64():
    assert sign_in_limits._address_key("2001:db8:1:2:aaaa::1") == sign_in_limits._address_key("2001:db8:1:2::ffff")
    assert sign_in_limits._address_key("2001:db8:1:3::1") != sign_in_limits._address_key("2001:db8:1:2::1")
