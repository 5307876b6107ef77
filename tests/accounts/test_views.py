from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from accounts import services
from accounts.models import ApiToken, RiskProfile

pytestmark = pytest.mark.django_db

VALID_RISK = {
    "leverage": "3",
    "position_size_pct": "15",
    "stop_loss_pct": "2.5",
    "take_profit_pct": "6",
    "max_drawdown_pct": "25",
}


@pytest.mark.parametrize("url", ["/settings/"])
def test_login_required(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    "url", ["/settings/risk/", "/settings/preferences/", "/settings/tokens/", "/settings/tokens/1/revoke/"]
)
def test_posts_need_login(client, url):
    assert client.post(url).status_code == 302


def test_settings_page(alice_client):
    response = alice_client.get("/settings/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Default risk settings" in html
    assert "Two-factor authentication is off" in html


def test_risk_update(alice_client, alice):
    response = alice_client.post("/settings/risk/", VALID_RISK)
    assert response.status_code == 302
    profile = RiskProfile.objects.get(user=alice)
    assert profile.leverage == 3
    assert profile.max_drawdown_pct == Decimal("25.00")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("leverage", "12", "less than or equal to 10"),
        ("leverage", "2.5", "Enter a whole number"),
        ("position_size_pct", "2", "greater than or equal to 5"),
        ("stop_loss_pct", "9", "less than or equal to 5"),
        ("take_profit_pct", "abc", "Enter a number"),
        ("max_drawdown_pct", "", "This field is required"),
    ],
)
def test_risk_update_out_of_range(alice_client, alice, field, value, message):
    response = alice_client.post("/settings/risk/", {**VALID_RISK, field: value})
    assert response.status_code == 400
    assert message in response.content.decode()
    profile = RiskProfile.objects.get(user=alice)
    assert profile.leverage == 1  # nothing of the form was saved
    assert profile.take_profit_pct == Decimal("4.00")


def test_preferences(alice_client, alice):
    assert alice_client.post("/settings/preferences/", {"timezone": "Asia/Seoul"}).status_code == 302
    alice.refresh_from_db()
    assert alice.timezone == "Asia/Seoul"
    response = alice_client.post("/settings/preferences/", {"timezone": "Nowhere/Land"})
    assert response.status_code == 400
    alice.refresh_from_db()
    assert alice.timezone == "Asia/Seoul"


def test_times_are_shown_in_the_users_time_zone(alice_client, alice):
    token = services.api_token_issue(user=alice, name="tz").token
    services.user_update_settings(user=alice, timezone_name="Asia/Seoul")
    html = alice_client.get("/settings/").content.decode()
    assert "Times are shown in Asia/Seoul" in html
    seoul = token.created_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Seoul"))
    assert f"{seoul.day} {seoul:%b %Y, %H:%M} KST" in html  # one date style, the zone named


def test_token_create_shows_key_once(alice_client, alice):
    response = alice_client.post("/settings/tokens/", {"name": "laptop", "ttl_days": "30"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    token = ApiToken.objects.get(user=alice)
    assert f"tdy_{token.prefix}_" in html
    assert "will not be shown again" in html
    # The page afterwards shows only the prefix.
    page = alice_client.get("/settings/").content.decode()
    assert "will not be shown again" not in page
    assert f"tdy_{token.prefix}_…" in page


def test_token_create_bad_input(alice_client, alice):
    response = alice_client.post("/settings/tokens/", {"name": "", "ttl_days": "999"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_token_revoke_only_own(alice_client, alice, bob, client):
    alice_token = services.api_token_issue(user=alice, name="a").token
    bob_token = services.api_token_issue(user=bob, name="b").token
    response = alice_client.post(f"/settings/tokens/{bob_token.id}/revoke/")
    assert response.status_code == 404
    assert ApiToken.objects.filter(id=bob_token.id).exists()
    assert "b (" not in alice_client.get("/settings/").content.decode()  # bob's token is not listed to alice
    response = alice_client.post(f"/settings/tokens/{alice_token.id}/revoke/")
    assert response.status_code == 302
    assert not ApiToken.objects.filter(id=alice_token.id).exists()


def test_database_refuses_out_of_range_risk(alice):
    """The check constraints hold even when a writer skips validation."""
    with pytest.raises(IntegrityError), transaction.atomic():
        RiskProfile.objects.filter(user=alice).update(leverage=25)
    with pytest.raises(IntegrityError), transaction.atomic():
        RiskProfile.objects.filter(user=alice).update(stop_loss_pct=Decimal("0.5"))
