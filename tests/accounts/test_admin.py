import pytest
from allauth.mfa.totp.internal.auth import TOTP

from accounts import services
from accounts.models import ApiToken
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    staff = UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    client.force_login(staff)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/accounts/user/",
        "/admin/accounts/riskprofile/",
        "/admin/accounts/apitoken/",
        "/admin/mfa/authenticator/",
        "/admin/market_data/candle/",
        "/admin/django_celery_beat/periodictask/",
    ],
)
def test_admin_pages(staff_client, url):
    assert staff_client.get(url).status_code == 200


def test_admin_never_shows_secrets(staff_client, alice):
    auth = TOTP.activate(alice, "JBSWY3DPEHPK3PXP").instance
    html = staff_client.get(f"/admin/mfa/authenticator/{auth.id}/change/").content.decode()
    assert "JBSWY3DPEHPK3PXP" not in html
    assert auth.data["secret"] not in html
    assert "(encrypted)" in html

    issued = services.api_token_issue(user=alice, name="t")
    html = staff_client.get(f"/admin/accounts/apitoken/{issued.token.id}/change/").content.decode()
    assert issued.key not in html
    assert issued.token.key_hash not in html


def test_admin_user_change_page(staff_client, alice):
    assert staff_client.get(f"/admin/accounts/user/{alice.id}/change/").status_code == 200


def test_admin_edits_risk_through_the_service(staff_client, alice):
    url = f"/admin/accounts/riskprofile/{alice.risk_profile.id}/change/"
    data = {
        "leverage": "4",
        "position_size_pct": "10",
        "stop_loss_pct": "2",
        "take_profit_pct": "4",
        "max_drawdown_pct": "20",
    }
    assert staff_client.post(url, data).status_code == 302
    alice.risk_profile.refresh_from_db()
    assert alice.risk_profile.leverage == 4
    response = staff_client.post(url, {**data, "leverage": "40"})
    assert response.status_code == 200
    alice.risk_profile.refresh_from_db()
    assert alice.risk_profile.leverage == 4


def test_admin_revoke_action(staff_client, alice):
    token = services.api_token_issue(user=alice, name="t").token
    response = staff_client.post("/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.id]})
    assert response.status_code == 302
    assert not ApiToken.objects.exists()


def test_user_added_in_admin_gets_a_risk_profile(staff_client):
    from accounts.models import RiskProfile, User

    response = staff_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "new@example.com",
            "password1": "a-long-Passphrase-77",
            "password2": "a-long-Passphrase-77",
            "risk_profile-TOTAL_FORMS": "1",
            "risk_profile-INITIAL_FORMS": "0",
            "risk_profile-MIN_NUM_FORMS": "0",
            "risk_profile-MAX_NUM_FORMS": "1",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    user = User.objects.get(email="new@example.com")
    assert RiskProfile.objects.filter(user=user).exists()
    staff_client.force_login(user)
    assert staff_client.get("/settings/").status_code in (200, 302)


def test_risk_profiles_cannot_be_deleted_in_admin(staff_client, alice):
    assert staff_client.get(f"/admin/accounts/riskprofile/{alice.risk_profile.id}/delete/").status_code == 403
