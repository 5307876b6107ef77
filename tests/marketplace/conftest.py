from decimal import Decimal
from pathlib import Path

import pytest

from marketplace import services
from marketplace.models import ListingVersion
from marketplace.services import ListingDetails
from strategies.pine_services import pine_script_create
from tests.strategies.conftest import stored_btc_1h  # noqa: F401 (the real BTC/USDT 1h candles, stored)

SMA = (Path(__file__).parents[1] / "pine" / "corpus" / "sma_cross_inputs.pine").read_text()


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(email="staff@example.com", password="x-1234567", is_staff=True)


def published(creator, staff, name, **changes):
    """A published listing of a new script of ``creator`` (``changes``: ``ListingDetails`` fields). Trendy's own
    backtests are skipped (marked passed): ``test_verification.py`` runs them."""
    script = pine_script_create(user=creator, name=name, source=SMA).script
    details = ListingDetails(
        **{"name": name, "category": "trend", "timeframe": "1h", "markets": ["BTC/USDT"], **changes}
    )
    listing = services.listing_create(creator=creator, script_id=script.id, details=details)
    ListingVersion.objects.filter(listing=listing).update(verification="passed")
    services.listing_submit(creator=creator, listing_id=listing.id)
    return services.listing_review(staff=staff, listing_id=listing.id, approve=True)


@pytest.fixture
def publish(staff):
    """``publish(creator, "Name", tier=…, price=…, billing=…)``: ``published`` with the staff fixture."""

    def make(creator, name="SMA trend", *, price=None, **changes):
        return published(creator, staff, name, price_usd=Decimal(price) if price is not None else None, **changes)

    return make
