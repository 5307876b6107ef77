"""Add the demo marketplace (issue 16): a few demo creators' listings, verified by Trendy, with demo traders'
subscriptions, payments and reviews, so that ``make run`` shows a living marketplace.

The catalogue is data (``marketplace/demo/``: ``catalogue.toml``, a Pine script and a Markdown description per
listing). Everything goes through the services a real user goes through: the creator saves the script
(``pine_script_create``) and lists it (``listing_create``); Trendy verifies it (``verification.verify``, inline, on
the stored candles: every figure shown is Trendy's own); the creator sends it for review and demo staff approve it;
demo traders take it (``subscription_start``, and for a paid one the test-mode provider's ``test_checkout_pay``,
which records the payment and posts the creator's and Trendy's shares to the ledger) and review it
(``review_create``); one creator replies (``review_reply``).

Every demo account has an e-mail at ``demo.trendy.local`` and no usable password; every listing's name says
"(demo)" and its description opens with the demo notice. Running it again changes nothing: each step is done only
when its result is missing, and each listing is seeded in one transaction, so an interrupted run leaves no half.
"""

from __future__ import annotations

import dataclasses
import time
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from market_data.management.reports import database_errors_in_one_line
from market_data.selectors import series_info
from marketplace import reviews, services, subscriptions
from marketplace.models import LedgerEntry, Listing, ListingVersion, Payment, Review, Subscription
from marketplace.providers import TEST
from marketplace.verification import verify
from strategies.models import PineScript
from strategies.pine_services import pine_script_create

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
DEMO_DOMAIN = "demo.trendy.local"
STAFF_EMAIL = f"staff@{DEMO_DOMAIN}"
EXCHANGE, TIMEFRAME = "binance", "1h"  # what every candle source of seed_demo holds, the bundled sample included
MIN_CANDLES = 1_000  # fewer stored candles than this and a market is left out of the listings
DEMO_NOTICE = (
    "> **Demo listing.** This listing, its creator, its subscribers and their reviews are demo data that "
    "`python manage.py seed_marketplace_demo` added so that a new Trendy has a marketplace to explore: no real "
    "trader wrote, bought or reviewed it. The backtest figures are real: Trendy's own verification of the script "
    "on the stored candles.\n\n"
)


@dataclass(frozen=True)
class DemoSubscription:
    trader: str
    days: int
    rating: int | None = None
    text: str = ""
    reply: str = ""


@dataclass(frozen=True)
class DemoListing:
    key: str
    creator: str
    name: str
    category: str
    markets: tuple[str, ...]
    tier: str
    tags: tuple[str, ...] = ()
    price_usd: str | None = None
    billing: str = ""
    subscriptions: tuple[DemoSubscription, ...] = field(default_factory=tuple)

    @property
    def paid(self) -> bool:
        return self.tier != Listing.Tier.FREE

    def source(self) -> str:
        return (DEMO_DIR / f"{self.key}.pine").read_text(encoding="utf-8")

    def description(self) -> str:
        return DEMO_NOTICE + (DEMO_DIR / f"{self.key}.md").read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class Catalogue:
    creators: dict[str, str]  # key → first name shown ("Demo creator Ava")
    traders: dict[str, str]
    listings: tuple[DemoListing, ...]


def catalogue() -> Catalogue:
    """The demo catalogue of ``marketplace/demo/catalogue.toml``."""
    data = tomllib.loads((DEMO_DIR / "catalogue.toml").read_text(encoding="utf-8"))
    listings = []
    for item in data["listings"]:
        subs = tuple(DemoSubscription(**sub) for sub in item.pop("subscriptions", ()))
        listings.append(
            DemoListing(
                **{**item, "markets": tuple(item["markets"]), "tags": tuple(item.get("tags", ()))},
                subscriptions=subs,
            )
        )
    return Catalogue(creators=data["creators"], traders=data["traders"], listings=tuple(listings))


def _count(number: int, one: str, many: str = "") -> str:
    return f"{number} {one if number == 1 else many or one + 's'}"


def _usd(amount: Any) -> Decimal:
    return Decimal(str(amount or 0)).quantize(Decimal("0.01"))


def demo_email(role: str, key: str) -> str:
    return f"{role}-{key}@{DEMO_DOMAIN}"


@dataclass
class Counts:
    """What this run added."""

    users: int = 0
    listings: int = 0
    subscriptions: int = 0
    payments: int = 0
    reviews: int = 0
    replies: int = 0

    @property
    def changed(self) -> bool:
        return any((self.users, self.listings, self.subscriptions, self.payments, self.reviews, self.replies))


class Command(BaseCommand):
    help = (
        "Add the demo marketplace: listings of demo creators (verified by Trendy on the stored binance 1h candles "
        "of BTC/USDT and ETH/USDT), demo traders' subscriptions and test-mode payments, and their reviews. Run "
        "seed_demo first. Running it again changes nothing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        with database_errors_in_one_line():
            self._handle()

    def _handle(self) -> None:
        started = time.perf_counter()
        demo = catalogue()
        markets = self._stored_markets(demo)
        counts = Counts()
        staff = self._user(STAFF_EMAIL, "Demo staff", "", counts, is_staff=True)
        creators = self._accounts("creator", demo.creators, counts)
        traders = self._accounts("trader", demo.traders, counts)
        paid_ok = settings.TRENDY_PAYMENTS == TEST
        if not paid_ok:
            self.stdout.write(
                f"Payments are not in test mode (TRENDY_PAYMENTS={settings.TRENDY_PAYMENTS}): the demo traders take "
                "only the free listings."
            )
        for spec in demo.listings:
            listed = tuple(m for m in spec.markets if m in markets)
            if not listed:
                self.stdout.write(f"{spec.name}: skipped, no stored {EXCHANGE} {TIMEFRAME} candles of its markets.")
                continue
            try:
                with transaction.atomic():
                    self._listing(spec, listed, creators[spec.creator], staff, traders, paid_ok, counts)
            except ValidationError as exc:
                raise CommandError(f"{spec.name}: {' '.join(exc.messages)}") from None
        self._summary(counts, time.perf_counter() - started)

    # --- steps ----------------------------------------------------------------------------------------------

    def _stored_markets(self, demo: Catalogue) -> set[str]:
        wanted = sorted({m for spec in demo.listings for m in spec.markets})
        stored = set()
        for symbol in wanted:
            info = series_info(exchange=EXCHANGE, symbol=symbol, timeframe=TIMEFRAME)
            if info is not None and info.count >= MIN_CANDLES:
                stored.add(symbol)
        if not stored:
            raise CommandError(
                f"No stored {EXCHANGE} {TIMEFRAME} candles of {' or '.join(wanted)} to verify the demo listings on: "
                "run `python manage.py seed_demo` first (or `make seed`)."
            )
        return stored

    def _user(self, email: str, first_name: str, last_name: str, counts: Counts, *, is_staff: bool = False) -> Any:
        """A demo account: found by its e-mail, or created without a usable password (no one signs in as it)."""
        users = get_user_model().objects
        user = users.filter(email=email).first()
        if user is None:
            user = users.create_user(email, None, first_name=first_name, last_name=last_name, is_staff=is_staff)
            counts.users += 1
        return user

    def _accounts(self, role: str, names: dict[str, str], counts: Counts) -> dict[str, Any]:
        """The demo creators or traders by key: ``creator-ava@demo.trendy.local``, shown as "Demo creator Ava"."""
        return {key: self._user(demo_email(role, key), f"Demo {role}", name, counts) for key, name in names.items()}

    def _listing(
        self,
        spec: DemoListing,
        markets: tuple[str, ...],
        creator: Any,
        staff: Any,
        traders: dict[str, Any],
        paid_ok: bool,
        counts: Counts,
    ) -> None:
        started, before = time.perf_counter(), dataclasses.replace(counts)
        listing = Listing.objects.filter(creator=creator, name=spec.name).first()
        if listing is None:
            script = PineScript.objects.filter(user=creator, name=spec.name).first()
            if script is None:
                script = pine_script_create(user=creator, name=spec.name, source=spec.source()).script
            details = services.ListingDetails(
                name=spec.name, category=spec.category, timeframe=TIMEFRAME, markets=markets,
                description=spec.description(), tags=spec.tags, exchange=EXCHANGE, tier=spec.tier,
                price_usd=spec.price_usd, billing=spec.billing,
            )  # fmt: skip
            listing = services.listing_create(creator=creator, script_id=script.id, details=details)
            counts.listings += 1
        current = listing.current
        # Trendy verifies the version before it is sent for review (listing_submit would otherwise queue the same
        # verification for a worker): inline, on the stored candles, as the worker's task does.
        if current.verification == ListingVersion.Verification.QUEUED:
            verify(version_id=current.id)
            current.refresh_from_db()
        if current.verification != ListingVersion.Verification.PASSED:
            raise CommandError(
                f"{spec.name}: Trendy's verification did not pass ({current.get_verification_display()}"
                f"{': ' + current.error if current.error else ''})."
            )
        if listing.status == Listing.Status.DRAFT:
            listing = services.listing_submit(creator=creator, listing_id=listing.id)
        if listing.status == Listing.Status.IN_REVIEW:
            listing = services.listing_review(staff=staff, listing_id=listing.id, approve=True)
        if listing.status != Listing.Status.PUBLISHED:
            self.stdout.write(f"{spec.name}: left as it is ({listing.get_status_display()}).")
            return
        for sub in spec.subscriptions:
            if spec.paid and not paid_ok:
                continue
            self._subscription(listing, spec, sub, traders[sub.trader], creator, counts)
        if counts != before:
            self._listing_line(listing, time.perf_counter() - started)

    def _subscription(
        self, listing: Listing, spec: DemoListing, sub: DemoSubscription, trader: Any, creator: Any, counts: Counts
    ) -> None:
        if not Subscription.objects.filter(user=trader, listing=listing).exists():
            subscription, _checkout_url = subscriptions.subscription_start(user=trader, listing_id=listing.id)
            if spec.paid:  # the buyer confirms the test-mode checkout: a Payment and its 70/30 ledger entries
                subscription = subscriptions.test_checkout_pay(user=trader, subscription_id=subscription.id)
                counts.payments += 1
            # Demo data only: the subscription is backdated so that the demo trader has "held it for a day", which
            # review_create asks of a reviewer. Nothing else is changed by hand.
            Subscription.objects.filter(id=subscription.id).update(started_at=timezone.now() - timedelta(days=sub.days))
            counts.subscriptions += 1
        if sub.rating is None:
            return
        review = Review.objects.filter(listing=listing, author=trader).first()
        if review is None:
            review = reviews.review_create(user=trader, listing_id=listing.id, rating=sub.rating, text=sub.text)
            counts.reviews += 1
        if sub.reply and not review.reply:
            reviews.review_reply(creator=creator, review_id=review.id, text=sub.reply)
            counts.replies += 1

    # --- output ---------------------------------------------------------------------------------------------

    def _listing_line(self, listing: Listing, seconds: float) -> None:
        listing.refresh_from_db()
        tier = listing.get_tier_display().lower()
        price = (
            f"{tier}, {listing.price_usd} USD {listing.get_billing_display().lower()}" if listing.price_usd else tier
        )
        oos = "n/a" if listing.oos_return_pct is None else f"{listing.oos_return_pct} %"
        self.stdout.write(
            f"{listing.name} by {listing.creator.get_full_name()}: {price}; "
            f"{', '.join(listing.markets)} {listing.timeframe}; Trendy's backtests: {listing.trades} trades, "
            f"max drawdown {listing.max_drawdown_pct} %, out-of-sample return {oos}; "
            f"{_count(listing.downloads_count, 'subscriber')}, {_count(listing.rating_count, 'review')} "
            f"({seconds:.1f} s)."
        )

    def _summary(self, counts: Counts, seconds: float) -> None:
        demo = Listing.objects.filter(creator__email__endswith=f"@{DEMO_DOMAIN}")
        published = demo.filter(status=Listing.Status.PUBLISHED).count()
        payments = Payment.objects.filter(listing__in=demo)
        paid = _usd(payments.aggregate(total=Sum("amount"))["total"])
        lines = LedgerEntry.objects.filter(payment__in=payments)
        sums = {
            row["account"]: _usd(-row["total"])
            for row in lines.values("account").annotate(total=Sum("amount"))
            if row["account"] in (LedgerEntry.Account.CREATOR_PAYABLE, LedgerEntry.Account.PLATFORM_REVENUE)
        }
        state = (
            f"{published} published demo listings, {Subscription.objects.filter(listing__in=demo).count()} "
            f"subscriptions, {payments.count()} test-mode payments of {paid} USD in all (creators "
            f"{sums.get(LedgerEntry.Account.CREATOR_PAYABLE, _usd(0))} USD, Trendy "
            f"{sums.get(LedgerEntry.Account.PLATFORM_REVENUE, _usd(0))} USD), "
            f"{Review.objects.filter(listing__in=demo).count()} reviews"
        )
        if not counts.changed:
            self.stdout.write(f"The demo marketplace is in place already: {state}. Nothing changed.")
            return
        self.stdout.write(
            f"Demo marketplace: added {counts.listings} listings, {counts.users} demo accounts, "
            f"{counts.subscriptions} subscriptions, {counts.payments} payments, {counts.reviews} reviews and "
            f"{_count(counts.replies, 'creator reply', 'creator replies')} in {seconds:.1f} s. Now: {state}. "
            f"The demo accounts are *@{DEMO_DOMAIN}, without passwords."
        )
