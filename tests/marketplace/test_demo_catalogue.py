"""The demo marketplace of ``make run`` (``seed_marketplace_demo``): published listings of demo accounts, verified by
Trendy on the candles a fresh clone has (the bundled sample), with demo traders' subscriptions, test-mode payments
split 70/30 in the ledger and reviews; clearly marked demo; a second run changes nothing."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Avg

from accounts.models import User
from market_data import sources
from market_data.management.reports import parse_file_name
from market_data.services import candles_import_csv
from market_data.symbols import normalize_symbol
from marketplace.management.commands.seed_marketplace_demo import DEMO_DOMAIN, catalogue
from marketplace.models import LedgerEntry, Listing, ListingVersion, Payment, ProviderEvent, Review, Subscription
from strategies.models import PineScript, PineScriptVersion

pytestmark = pytest.mark.django_db
DEMO = f"@{DEMO_DOMAIN}"


@pytest.fixture
def sample_candles(db):
    """The candles of a fresh clone: the bundled sample (BTC/USDT and ETH/USDT 1h, 2024)."""
    for path in sources.sample_files():
        parts = parse_file_name(path)
        candles_import_csv(
            path=path, exchange="binance", symbol=normalize_symbol(parts["pair"]), timeframe=parts["timeframe"]
        )


def seed() -> str:
    out = StringIO()
    call_command("seed_marketplace_demo", "--skip-checks", stdout=out)
    return out.getvalue()


def snapshot() -> dict[str, object]:
    """Every row the command may write, and when each listing last changed."""
    models = (User, PineScript, PineScriptVersion, Listing, ListingVersion, Subscription, Payment, LedgerEntry)
    rows: dict[str, object] = {model.__name__: model.objects.count() for model in models}
    rows |= {"Review": Review.objects.count(), "ProviderEvent": ProviderEvent.objects.count()}
    rows["listings"] = sorted(Listing.objects.values_list("name", "updated_at", "rating_average", "downloads_count"))
    rows["subscriptions"] = sorted(Subscription.objects.values_list("id", "status", "started_at", "expires_at"))
    rows["reviews"] = sorted(Review.objects.values_list("id", "rating", "reply", "updated_at"))
    return rows


@pytest.mark.usefixtures("sample_candles")
def test_the_demo_marketplace_is_verified_by_trendy_marked_demo_paid_reviewed_and_seeded_once():
    first = seed()
    demo = catalogue()
    listings = list(Listing.objects.select_related("creator", "reviewed_by").order_by("name"))
    assert len(listings) == len(demo.listings) and 6 <= len(listings) <= 8
    assert "Demo marketplace: added 7 listings" in first

    # Published, through staff's review, with Trendy's own evidence of the released version.
    for listing in listings:
        assert listing.status == Listing.Status.PUBLISHED and listing.published_at is not None
        assert listing.reviewed_by.is_staff and listing.reviewed_by.email.endswith(DEMO)
        version = listing.released
        assert version is not None and version.verification == ListingVersion.Verification.PASSED
        assert not version.few_trades and version.result["trades"] >= version.result["min_trades"]
        assert [row["symbol"] for row in version.result["markets"]] == listing.markets
        for row in version.result["markets"]:
            assert row["public"]["bars"] == 8_784 and row["public"]["last"].startswith("2024-12-31T23:00")
            assert row["out_of_sample"] is not None and row["out_of_sample"]["bars"] >= 100
        assert listing.backtest_results["version_id"] == str(version.id)
        assert listing.trades == version.result["trades"] and listing.max_drawdown_pct is not None
        assert listing.oos_return_pct is not None
        assert listing.name in first and f"{listing.trades} trades" in first  # the figures printed are Trendy's

    # Clearly demo: the names, the descriptions (Markdown), the tags and the accounts.
    for listing in listings:
        assert "(demo)" in listing.name and "demo" in listing.tags
        assert listing.description.startswith("> **Demo listing.**") and "\n# " in listing.description
        assert "\n- " in listing.description or "\n1. " in listing.description
        assert listing.creator.email.endswith(DEMO) and listing.creator.get_full_name().startswith("Demo creator ")
    demo_users = User.objects.filter(email__endswith=DEMO)
    assert demo_users.count() == 1 + len(demo.creators) + len(demo.traders)
    assert not any(user.has_usable_password() for user in demo_users)
    assert not User.objects.filter(is_staff=True).exclude(email__endswith=DEMO).exists()

    # A mix of tiers and billing, and of categories.
    assert {listing.tier for listing in listings} == {"free", "premium", "pro"}
    assert {listing.billing for listing in listings} == {"", "monthly", "one_off"}
    assert {listing.category for listing in listings} >= {"trend", "mean_reversion", "breakout"}

    # Subscriptions by demo traders; each paid one through the test-mode checkout, split 70/30 in the ledger.
    subscriptions = Subscription.objects.select_related("listing", "user")
    assert subscriptions.count() == sum(len(spec.subscriptions) for spec in demo.listings)
    assert all(s.status == "active" and s.user.email.endswith(DEMO) for s in subscriptions)
    paid = [s for s in subscriptions if s.listing.tier != "free"]
    payments = Payment.objects.select_related("listing")
    assert len(paid) >= 4 and payments.count() == len(paid)
    assert {p.listing.billing for p in payments} == {"monthly", "one_off"}
    for payment in payments:
        assert payment.provider == "test" and payment.amount == payment.listing.price_usd
        assert payment.creator_share == Decimal("0.70")
        lines = dict(payment.entries.values_list("account", "amount"))
        creator = (payment.amount * Decimal("0.70")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        assert lines == {
            "buyer_payments": payment.amount,
            "creator_payable": -creator,
            "platform_revenue": -(payment.amount - creator),
        }
    for listing in listings:
        assert listing.downloads_count == subscriptions.filter(listing=listing).count()

    # Reviews with varied ratings, the listings' averages kept by review_create, one creator reply.
    reviews = Review.objects.all()
    assert reviews.count() >= 8 and len({r.rating for r in reviews}) >= 3
    assert all(r.author.email.endswith(DEMO) and not r.hidden for r in reviews)
    replied = reviews.exclude(reply="")
    assert replied.count() == 1 and replied.get().replied_at is not None
    for listing in listings:
        mine = reviews.filter(listing=listing)
        assert listing.rating_count == mine.count()
        if mine:
            expected = Decimal(mine.aggregate(a=Avg("rating"))["a"]).quantize(Decimal("0.01"))
            assert listing.rating_average == expected

    # A second run changes nothing, and says so.
    before = snapshot()
    second = seed()
    assert snapshot() == before
    assert "Nothing changed" in second and "7 published demo listings" in second


@pytest.mark.usefixtures("sample_candles")
def test_the_demo_listings_show_on_the_marketplace(client, alice):
    seed()
    client.force_login(alice)
    page = client.get("/marketplace/").content.decode()
    for spec in catalogue().listings:
        assert spec.name in page
    listing = Listing.objects.get(name="Bollinger Band Bounce (demo)")
    detail = client.get(f"/marketplace/{listing.id}/").content.decode()
    assert "Demo listing." in detail and "Demo creator Ben" in detail and "Demo trader Eli" in detail
    assert "The creator&#x27;s reply" in detail or "The creator's reply" in detail


@pytest.mark.usefixtures("sample_candles")
def test_with_payments_off_the_demo_traders_take_only_the_free_listings(settings):
    settings.TRENDY_PAYMENTS = "off"
    output = seed()
    assert "Payments are not in test mode (TRENDY_PAYMENTS=off)" in output
    assert Listing.objects.filter(status=Listing.Status.PUBLISHED).count() == len(catalogue().listings)
    assert not Payment.objects.exists() and not Subscription.objects.exclude(listing__tier="free").exists()
    assert Subscription.objects.filter(listing__tier="free").exists()


def test_without_candles_it_says_to_seed_them_first():
    with pytest.raises(CommandError, match=r"run `python manage\.py seed_demo` first"):
        seed()
    assert not Listing.objects.exists() and not User.objects.exists()
