"""Staff see webhook endpoints with the token masked and never the secret; the event log is read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from webhooks.models import WebhookEndpoint

from .conftest import alert, make_event

pytestmark = pytest.mark.django_db


def test_endpoints_never_show_the_secret_or_the_token(admin_client, endpoint):
    ep = endpoint.endpoint
    for url in (
        reverse("admin:webhooks_webhookendpoint_changelist"),
        reverse("admin:webhooks_webhookendpoint_change", args=[ep.pk]),
    ):
        response = admin_client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, url
        assert endpoint.secret not in html and ep.secret not in html  # neither opened nor sealed
        assert ep.token not in html and ep.token[-4:] in html  # masked: ••••••abcd
    assert admin_client.get(reverse("admin:webhooks_webhookendpoint_add")).status_code == 403


def test_staff_revoke_goes_through_the_service(admin_client, endpoint):
    ep = endpoint.endpoint
    response = admin_client.post(
        reverse("admin:webhooks_webhookendpoint_changelist"),
        {"action": "revoke_endpoints", "_selected_action": [ep.pk]},
        follow=True,
    )
    assert response.status_code == 200 and "1 endpoint revoked." in response.content.decode()
    ep = WebhookEndpoint.objects.get(pk=ep.pk)
    assert ep.revoked_at is not None and not ep.active


def test_events_are_read_only_and_filtered_by_outcome_and_reason(admin_client, endpoint, send, prices):
    send(endpoint.endpoint, alert(endpoint.secret))
    stale = make_event(endpoint.endpoint, reason="stale")
    changelist = reverse("admin:webhooks_webhookevent_changelist")
    html = admin_client.get(changelist).content.decode()
    assert "outcome" in html and "reason" in html and endpoint.secret not in html
    assert "?outcome__exact=accepted" in html and "?reason=stale" in html
    rejected = admin_client.get(changelist, {"outcome__exact": "rejected"}).content.decode()
    assert f"/{stale.pk}/change/" in rejected
    by_reason = admin_client.get(changelist, {"reason": "stale"}).content.decode()
    assert f"/{stale.pk}/change/" in by_reason
    accepted = endpoint.endpoint.events.get(outcome="accepted")
    page = admin_client.get(reverse("admin:webhooks_webhookevent_change", args=[accepted.pk]))
    assert page.status_code == 200 and endpoint.secret not in page.content.decode()
    assert "***" in page.content.decode() and b'name="outcome"' not in page.content  # read-only
    assert admin_client.get(reverse("admin:webhooks_webhookevent_add")).status_code == 403
    response = admin_client.post(reverse("admin:webhooks_webhookevent_delete", args=[accepted.pk]), {"post": "yes"})
    assert response.status_code == 403
