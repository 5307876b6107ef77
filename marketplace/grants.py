"""What a subscription lets its trader run (``strategies.pine_services.Grant``): the script versions of the listings
they have access to — backtests and bots take them like their own scripts, by slug and name, and the source stays
the creator's. Registered when the app starts (``marketplace.apps``)."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils.translation import gettext as _

from marketplace.models import ListingVersion, Subscription
from marketplace.subscriptions import access_q
from strategies.models import PineScriptVersion


def _label(name: str, number: int) -> str:
    return _("%(name)s · v%(number)d (marketplace)") % {"name": name, "number": number}


def slug_of(script_version_id: uuid.UUID) -> str:
    return PineScriptVersion(id=script_version_id).slug


class SubscriberGrant:
    def usable(self, *, user: Any, version_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
        listings = Subscription.objects.filter(access_q(), user=user).values("listing_id")
        rows = ListingVersion.objects.filter(script_version_id__in=version_ids, listing_id__in=listings).values_list(
            "script_version_id", "listing__name", "number"
        )
        return {version_id: _label(name, number) for version_id, name, number in rows}

    def offered(self, *, user: Any) -> list[tuple[str, str]]:
        rows = (
            Subscription.objects.filter(access_q(), user=user)
            .order_by("listing__name")
            .values_list("version__script_version_id", "listing__name", "version__number")
        )
        return [(slug_of(version_id), _label(name, number)) for version_id, name, number in rows]
