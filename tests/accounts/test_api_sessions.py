"""The token lifecycle a phone needs: rotate a token while it is valid, list the signed-in clients, sign one out,
this one, or every one — each acting on the user's own tokens only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_issue

pytestmark = pytest.mark.django_db


def client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_rotating_gives_a_new_key_and_retires_the_old_one(alice):
    issued = api_token_issue(user=alice, name="Alice's phone", ttl_days=30)
    ago = timedelta(days=20)  # issued 20 days ago: 10 days left
    ApiToken.objects.filter(pk=issued.token.pk).update(
        created_at=issued.token.created_at - ago, expires_at=issued.token.expires_at - ago
    )
    phone = client_for(issued.key)
    response = phone.post("/api/v1/auth/token/rotate")
    assert response.status_code == 201, response.content
    new_key = response.json()["token"]
    assert new_key != issued.key and new_key.startswith("tdy_")
    assert phone.get("/api/v1/me/").status_code == 401  # the old key stopped working at once
    renewed = client_for(new_key)
    assert renewed.get("/api/v1/me/").status_code == 200
    token = ApiToken.objects.get(user=alice)
    assert token.name == "Alice's phone" and token.expires_at - token.created_at == timedelta(days=30)  # full life
    assert token.expires_at > timezone.now() + timedelta(days=29)


def test_the_list_shows_the_users_own_clients_and_which_one_is_asking(alice, bob):
    phone = api_token_issue(user=alice, name="phone")
    api_token_issue(user=alice, name="laptop")
    api_token_issue(user=bob, name="bob's phone")
    response = client_for(phone.key).get("/api/v1/auth/sessions")
    assert response.status_code == 200
    rows = response.json()
    assert sorted(r["name"] for r in rows) == ["laptop", "phone"]
    assert [r["name"] for r in rows if r["current"]] == ["phone"]
    assert all(set(r) == {"id", "name", "created_at", "last_used_at", "expires_at", "current"} for r in rows)
    assert phone.key not in response.content.decode()


def test_signing_out_one_client_this_one_or_everywhere(alice, bob):
    phone = api_token_issue(user=alice, name="phone")
    laptop = api_token_issue(user=alice, name="laptop")
    tablet = api_token_issue(user=alice, name="tablet")
    bobs = api_token_issue(user=bob, name="bob's phone")
    me = client_for(phone.key)
    # another user's client is not there to revoke
    assert me.delete(f"/api/v1/auth/sessions/{bobs.token.pk}").status_code == 404
    assert client_for(bobs.key).get("/api/v1/me/").status_code == 200
    assert me.delete(f"/api/v1/auth/sessions/{laptop.token.pk}").status_code == 204
    assert client_for(laptop.key).get("/api/v1/me/").status_code == 401
    assert client_for(tablet.key).post("/api/v1/auth/logout").status_code == 204
    assert client_for(tablet.key).get("/api/v1/me/").status_code == 401
    api_token_issue(user=alice, name="watch")
    response = me.post("/api/v1/auth/logout-everywhere")
    assert response.status_code == 200 and response.json() == {"revoked": 2}  # the phone and the watch
    assert me.get("/api/v1/me/").status_code == 401 and not ApiToken.objects.filter(user=alice).exists()
    assert client_for(bobs.key).get("/api/v1/me/").status_code == 200  # bob stays signed in


def test_token_actions_need_the_token_they_act_on(alice, api_client):
    session = APIClient()
    session.force_login(alice)
    for path in ("/api/v1/auth/token/rotate", "/api/v1/auth/logout"):
        response = session.post(path)
        assert response.status_code == 400 and "token" in response.json()["error"]["fields"], path
    for path in ("/api/v1/auth/token/rotate", "/api/v1/auth/logout", "/api/v1/auth/logout-everywhere"):
        assert api_client.post(path).status_code == 401, path
    assert api_client.get("/api/v1/auth/sessions").status_code == 401
