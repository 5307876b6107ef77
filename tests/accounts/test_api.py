from datetime import timedelta
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP
from django.utils import timezone

from accounts import services
from accounts.models import ApiToken
from tests.accounts.test_auth_flows import totp_now
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"


def test_token_obtain_and_use(api_client, alice, password):
    response = api_client.post(TOKEN_URL, {"email": "Alice@Example.com", "password": password, "name": "phone"})
    assert response.status_code == 201, response.json()
    key = response.json()["token"]
    assert key.startswith("tdy_")
    stored = ApiToken.objects.get(user=alice)
    assert stored.name == "phone"
    assert key not in (stored.key_hash, stored.prefix)  # only a hash is kept

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    me = api_client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["email"] == "alice@example.com"
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_wrong_password(api_client, alice):
    response = api_client.post(TOKEN_URL, {"email": alice.email, "password": "wrong-wrong"})
    assert response.status_code == 401
    body = response.json()
    assert body["error"]["code"] == "authentication_failed"
    assert "not correct" in body["error"]["message"]
    assert not ApiToken.objects.exists()


def test_unverified_email_cannot_get_a_token(api_client, password):
    user = UserFactory(email="new@example.com", verified=False)
    response = api_client.post(TOKEN_URL, {"email": user.email, "password": password})
    assert response.status_code == 403
    assert "Verify your e-mail" in response.json()["error"]["message"]


def test_bad_input_has_field_errors(api_client):
    response = api_client.post(TOKEN_URL, {"email": "not-an-email"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"email", "password"}


def test_totp_required_and_checked(api_client, alice, password):
    secret = "JBSWY3DPEHPK3PXP"
    TOTP.activate(alice, secret)

    response = api_client.post(TOKEN_URL, {"email": alice.email, "password": password})
    assert response.status_code == 400
    assert "totp_code" in response.json()["error"]["fields"]

    wrong = "000000" if totp_now(secret) != "000000" else "111111"
    response = api_client.post(TOKEN_URL, {"email": alice.email, "password": password, "totp_code": wrong})
    assert response.status_code == 401
    assert "two-factor code" in response.json()["error"]["message"]
    assert not ApiToken.objects.exists()

    response = api_client.post(TOKEN_URL, {"email": alice.email, "password": password, "totp_code": totp_now(secret)})
    assert response.status_code == 201
    # A code works once: replaying it is refused.
    response = api_client.post(TOKEN_URL, {"email": alice.email, "password": password, "totp_code": totp_now(secret)})
    assert response.status_code == 401


def test_expired_token(api_client, alice):
    issued = services.api_token_issue(user=alice, name="old", ttl_days=1)
    ApiToken.objects.filter(id=issued.token.id).update(
        created_at=timezone.now() - timedelta(days=3), expires_at=timezone.now() - timedelta(days=2)
    )
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.key}")
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


@pytest.mark.parametrize("header", ["Bearer tdy_nope_nope", "Bearer garbage", "Token a b"])
def test_invalid_tokens(api_client, alice, header):
    api_client.credentials(HTTP_AUTHORIZATION=header)
    assert api_client.get("/api/v1/me/").status_code == 401


def test_token_of_another_prefix_is_refused(api_client, alice, bob):
    a = services.api_token_issue(user=alice, name="a").key
    b = services.api_token_issue(user=bob, name="b").key
    forged = "_".join([*a.split("_")[:2], b.split("_")[2]])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert api_client.get("/api/v1/me/").status_code == 401


def test_anonymous_gets_401(api_client):
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_me_shows_only_own_profile(alice_api, charlie_api, alice):
    assert alice_api.get("/api/v1/me/").json()["email"] == "alice@example.com"
    data = charlie_api.get("/api/v1/me/").json()
    assert data["email"] == "charlie@example.com"
    assert data["risk_profile"]["leverage"] == 1
    assert data["two_factor_enabled"] is False


def test_me_update(alice_api, alice):
    response = alice_api.patch(
        "/api/v1/me/",
        {"timezone": "Asia/Seoul", "risk_profile": {"leverage": "5", "stop_loss_pct": "1.5"}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    alice.refresh_from_db()
    assert alice.timezone == "Asia/Seoul"
    assert alice.risk_profile.leverage == 5
    assert alice.risk_profile.stop_loss_pct == Decimal("1.50")
    assert alice.risk_profile.take_profit_pct == Decimal("4.00")


@pytest.mark.parametrize(
    ("risk", "field"),
    [
        ({"leverage": "11"}, "leverage"),
        ({"leverage": "0.5"}, "leverage"),
        ({"position_size_pct": "25"}, "position_size_pct"),
        ({"position_size_pct": "4.99"}, "position_size_pct"),
        ({"stop_loss_pct": "6"}, "stop_loss_pct"),
        ({"take_profit_pct": "1"}, "take_profit_pct"),
        ({"max_drawdown_pct": "80"}, "max_drawdown_pct"),
        ({"leverage": "abc"}, "leverage"),
        ({"leverage": "2.5"}, "leverage"),
    ],
)
def test_me_update_out_of_range_saves_nothing(alice_api, alice, risk, field):
    response = alice_api.patch("/api/v1/me/", {"timezone": "Asia/Seoul", "risk_profile": risk}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in str(error["fields"])
    alice.refresh_from_db()
    assert alice.timezone == "UTC"  # the valid part was not saved either
    assert alice.risk_profile.leverage == 1


def test_me_update_bad_timezone(alice_api, alice):
    response = alice_api.patch("/api/v1/me/", {"timezone": "Mars/Olympus"}, format="json")
    assert response.status_code == 400
    assert "not a known time zone" in response.json()["error"]["fields"]["timezone"][0]


def test_token_endpoint_is_throttled(api_client, alice):
    statuses = [api_client.post(TOKEN_URL, {"email": alice.email, "password": "x" * 10}).status_code for _ in range(12)]
    assert statuses[0] == 401
    assert statuses[-1] == 429
    response = api_client.post(TOKEN_URL, {"email": alice.email, "password": "x" * 10})
    assert response.json()["error"]["code"] == "throttled"


def test_unverified_email_check_matches_login_email(api_client, alice, password):
    # A second, unverified address does not unlock the API.
    EmailAddress.objects.create(user=alice, email="alice-alt@example.com", verified=False)
    response = api_client.post(TOKEN_URL, {"email": "alice-alt@example.com", "password": password})
    assert response.status_code == 403
    assert "Verify your e-mail" in response.json()["error"]["message"]


def test_forged_forwarded_for_does_not_dodge_the_throttle(api_client, alice):
    statuses = [
        api_client.post(
            TOKEN_URL, {"email": f"x{i}@example.com", "password": "x" * 10}, HTTP_X_FORWARDED_FOR=f"10.0.0.{i}"
        ).status_code
        for i in range(12)
    ]
    assert statuses[-1] == 429


def test_failures_are_limited_per_account_and_address(settings, alice, password, monkeypatch):
    """The policy in full: tests/accounts/test_sign_in_limits.py. Five failures from one address hold that
    address (even with the right password); the owner elsewhere is not locked out."""
    from rest_framework.test import APIClient

    from accounts import sign_in_limits
    from accounts.api import TokenObtainApi

    monkeypatch.setattr(TokenObtainApi, "throttle_classes", [])
    for _ in range(sign_in_limits.PAIR_LIMIT):
        client = APIClient(REMOTE_ADDR="127.0.0.2")
        assert client.post(TOKEN_URL, {"email": alice.email, "password": "wrong-guess"}).status_code == 401
    response = APIClient(REMOTE_ADDR="127.0.0.2").post(TOKEN_URL, {"email": alice.email, "password": password})
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.json()["error"]["message"]
    assert not ApiToken.objects.exists()
    response = APIClient(REMOTE_ADDR="127.0.0.99").post(TOKEN_URL, {"email": alice.email, "password": password})
    assert response.status_code == 201


def test_token_answers_are_not_cached(api_client, alice, password):
    response = api_client.post(TOKEN_URL, {"email": alice.email, "password": password})
    assert "no-store" in response["Cache-Control"]


def test_password_change_revokes_api_tokens(client, alice, password):
    issued = services.api_token_issue(user=alice, name="phone")
    client.post("/accounts/login/", {"login": alice.email, "password": password})
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": password, "password1": "another-Passphrase-88", "password2": "another-Passphrase-88"},
    )
    assert response.status_code == 302
    assert not ApiToken.objects.filter(id=issued.token.id).exists()
