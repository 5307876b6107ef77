"""The bell, the list page and the API: each user sees and marks only their own notifications."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from accounts.events import Event
from notifications import selectors, services
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def make(user, kind="auto_trading", **data) -> Notification:
    return services.notification_create(Event(user_id=user.pk, kind=kind, data=data or {"enabled": True}))


@pytest.fixture
def rows(alice, bob):
    mine = [make(alice, "order_filled", symbol="BTC/USDT", side="buy", amount="0.1", price="50000") for _ in range(3)]
    theirs = make(bob, "order_rejected", symbol="SECRET/USDT", side="sell", amount="1", reason="bob's secret")
    return mine, theirs


# --- HTML ----------------------------------------------------------------------------------------------


def test_pages_need_a_sign_in(client):
    for name in ("notifications:list", "notifications:bell"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "login" in response["Location"]
    assert client.post(reverse("notifications:mark-read")).status_code == 302
    assert not Notification.objects.exists()


def test_the_list_shows_mine_newest_first_never_anothers(alice_client, rows):
    mine, theirs = rows
    response = alice_client.get(reverse("notifications:list"))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("Buy BTC/USDT filled") == 3
    assert "SECRET" not in html and f"notification-{theirs.pk}" not in html
    assert html.index(f"notification-{mine[2].pk}") < html.index(f"notification-{mine[0].pk}")
    assert html.count("notification-unread") == 3
    assert "Mark all read" in html


def test_the_list_pages_by_keyset(alice_client, alice, monkeypatch):
    monkeypatch.setattr(selectors, "PAGE", 2)
    made = [make(alice) for _ in range(3)]
    first = alice_client.get(reverse("notifications:list")).content.decode()
    assert f'href="?before={made[1].pk}"' in first and f'notification-{made[0].pk}"' not in first
    older = alice_client.get(reverse("notifications:list") + f"?before={made[1].pk}").content.decode()
    assert f'notification-{made[0].pk}"' in older and 'href="?before=' not in older


def test_the_bell_counts_my_unread_only(alice_client, bob_client, rows):
    html = alice_client.get(reverse("notifications:bell")).content.decode()
    assert 'data-unread="3"' in html and 'hx-trigger="every 45s"' in html
    assert 'data-unread="1"' in bob_client.get(reverse("notifications:bell")).content.decode()


def test_the_header_loads_the_bell(alice_client, rows):
    html = alice_client.get(reverse("notifications:list")).content.decode()
    assert 'id="notification-bell"' in html and 'hx-trigger="load, every 45s"' in html


def test_mark_one_read_and_never_anothers(alice_client, rows):
    mine, theirs = rows
    response = alice_client.post(reverse("notifications:mark-read"), {"id": [mine[0].pk, theirs.pk]})
    assert response.status_code == 302
    assert Notification.objects.get(pk=mine[0].pk).read_at is not None
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    assert Notification.objects.filter(user=mine[0].user, read_at__isnull=True).count() == 2


def test_mark_all_read_marks_only_mine(alice_client, rows):
    mine, theirs = rows
    alice_client.post(reverse("notifications:mark-read"))
    assert not Notification.objects.filter(pk__in=[n.pk for n in mine], read_at__isnull=True).exists()
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    html = alice_client.get(reverse("notifications:list")).content.decode()
    assert "notification-unread" not in html and "Mark all read" not in html


def test_mark_read_is_post_only(alice_client, rows):
    assert alice_client.get(reverse("notifications:mark-read")).status_code == 405


def test_the_list_in_korean_does_not_crash(alice_client, rows):
    with translation.override("ko"):
        response = alice_client.get(reverse("notifications:list"), HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 200


# --- API -----------------------------------------------------------------------------------------------


def test_api_needs_authentication(api_client):
    assert api_client.get("/api/v1/notifications").status_code == 401
    assert api_client.get("/api/v1/notifications/unread-count").status_code == 401
    assert api_client.post("/api/v1/notifications/mark-read", {"all": True}).status_code == 401


def test_api_list_is_mine_newest_first_with_a_cursor(alice_api, bob_api, rows):
    mine, theirs = rows
    first = alice_api.get("/api/v1/notifications", {"page_size": 2}).json()
    assert [n["id"] for n in first["results"]] == [mine[2].pk, mine[1].pk]
    assert first["results"][0]["title"] == "Buy BTC/USDT filled" and first["results"][0]["severity"] == "info"
    assert first["next_cursor"] == mine[1].pk
    second = alice_api.get("/api/v1/notifications", {"page_size": 2, "cursor": first["next_cursor"]}).json()
    assert [n["id"] for n in second["results"]] == [mine[0].pk] and second["next_cursor"] is None
    assert [n["id"] for n in bob_api.get("/api/v1/notifications").json()["results"]] == [theirs.pk]


def test_api_list_filters_unread(alice_api, rows):
    mine, _ = rows
    services.notifications_mark_read(user=mine[0].user, ids=[mine[1].pk])
    ids = [n["id"] for n in alice_api.get("/api/v1/notifications", {"unread": "true"}).json()["results"]]
    assert ids == [mine[2].pk, mine[0].pk]


@pytest.mark.parametrize(
    ("query", "field"), [({"cursor": "x"}, "cursor"), ({"page_size": 0}, "page_size"), ({"unread": "maybe"}, "unread")]
)
def test_api_list_bad_query_is_a_400_naming_the_field(alice_api, query, field):
    response = alice_api.get("/api/v1/notifications", query)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_api_unread_count_is_mine(alice_api, bob_api, rows):
    assert alice_api.get("/api/v1/notifications/unread-count").json() == {"unread": 3}
    assert bob_api.get("/api/v1/notifications/unread-count").json() == {"unread": 1}


def test_api_mark_read_ignores_anothers_ids(alice_api, rows):
    mine, theirs = rows
    response = alice_api.post("/api/v1/notifications/mark-read", {"ids": [mine[0].pk, theirs.pk]})
    assert response.status_code == 200 and response.json() == {"marked": 1, "unread": 2}
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_api_mark_all_read(alice_api, rows):
    _, theirs = rows
    assert alice_api.post("/api/v1/notifications/mark-read", {"all": True}).json() == {"marked": 3, "unread": 0}
    assert Notification.objects.get(pk=theirs.pk).read_at is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "ids"),
        ({"ids": []}, "ids"),
        ({"ids": ["x"]}, "ids"),
        ({"all": "yes"}, "all"),
        ({"ids": [1], "all": True}, "ids"),
    ],
)
def test_api_mark_read_bad_input_is_a_400_naming_the_field(alice_api, rows, body, field):
    response = alice_api.post("/api/v1/notifications/mark-read", body)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Notification.objects.filter(read_at__isnull=False).exists()


# --- admin ---------------------------------------------------------------------------------------------


def test_admin_is_read_only(client, rows, django_user_model):
    staff = django_user_model.objects.create_superuser(email="staff@example.com", password="x")
    client.force_login(staff)
    mine, _ = rows
    assert client.get(reverse("admin:notifications_notification_changelist")).status_code == 200
    page = client.get(reverse("admin:notifications_notification_change", args=[mine[0].pk]))
    assert page.status_code == 200 and "Buy BTC/USDT filled" in page.content.decode()
    assert client.get(reverse("admin:notifications_notification_add")).status_code == 403
