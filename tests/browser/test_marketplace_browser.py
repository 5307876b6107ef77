"""The marketplace issue's done means, in Chromium: a creator lists a Pine strategy and sends it for review; a real
Celery worker runs Trendy's own backtests of it; staff approve it in Django admin; a second trader finds it by a
filter (htmx, no reload), buys it through the test-mode provider, reviews it and starts a paper bot from it; the
ledger shows the 70/30 split."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from accounts.models import ExchangeAccount
from market_data.services import candles_import_csv
from marketplace import ledger
from marketplace.models import Listing, ListingVersion, Review, Subscription
from strategies.pine_services import pine_script_create
from tests.browser.conftest import SHOTS, wait_for
from tests.conftest import needs_postgres
from tests.factories import PASSWORD, UserFactory
from tests.marketplace.conftest import SMA
from tests.strategies.conftest import BTC_1H
from trading import clock
from trading.models import Bot

pytestmark = [pytest.mark.django_db(transaction=True), needs_postgres]


def sign_in(page, user):
    page.context.clear_cookies()
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_list_verify_approve_find_buy_review_and_copy(page, worker):
    SHOTS.mkdir(parents=True, exist_ok=True)
    candles_import_csv(path=BTC_1H, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    clock.replay_start(start=datetime(2024, 3, 2, 14, tzinfo=UTC), timeframe="1h", seconds_per_candle=Decimal(60))
    creator = UserFactory(email="creator@example.com", first_name="Mina", last_name="Kim")
    trader = UserFactory(email="trader@example.com")
    staff = UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    ExchangeAccount.objects.create(user=trader, exchange="paper", label="Paper", paper_balance=Decimal(10000))
    pine_script_create(user=creator, name="SMA cross", source=SMA)

    # The creator lists the script: a premium one-off purchase, described in Markdown; then sends it for review.
    sign_in(page, creator)
    page.goto("/marketplace/new/")
    page.fill("input[name=name]", "Mina's SMA trend")
    page.fill("textarea[name=description]", "## How it trades\n\n- Long when the fast average crosses up")
    page.select_option("select[name=category]", "trend")
    page.fill("input[name=markets]", "BTC/USDT")
    page.select_option("select[name=timeframe]", "1h")
    page.select_option("select[name=tier]", "premium")
    page.fill("input[name=price_usd]", "20")
    page.select_option("select[name=billing]", "one_off")
    page.get_by_role("button", name="Save the draft").click()
    page.wait_for_url(re.compile(r"/marketplace/[0-9a-f-]+/$"))
    listing = Listing.objects.get()
    assert page.locator("h4", has_text="How it trades").is_visible()
    page.goto("/marketplace/mine/")
    page.get_by_role("button", name="Send for review").click()
    page.get_by_text("Sent for review.").wait_for()

    # The worker backtests it: on every stored candle and out of sample.
    wait_for(
        lambda: ListingVersion.objects.filter(listing=listing, verification="passed").exists(),
        180,
        "Trendy's verification of the listing",
        worker,
    )

    # Staff approve it in Django admin.
    sign_in(page, staff)
    page.goto("/admin/marketplace/listing/")
    page.locator(f'input[name="_selected_action"][value="{listing.id}"]').check()
    page.select_option("select[name=action]", "approve")
    page.locator("button[name=index]").click()
    page.get_by_text("1 listing(s) published.").wait_for()
    assert Listing.objects.get().status == "published"

    # A second trader finds it by a filter (the results change without a reload) and reads Trendy's evidence.
    sign_in(page, trader)
    page.goto("/marketplace/")
    page.evaluate("window.__same_page = true")
    page.select_option("select[name=category]", "mean_reversion")
    page.get_by_text("No published strategy matches these filters.").wait_for()
    page.select_option("select[name=category]", "trend")
    page.get_by_role("link", name="Mina's SMA trend").wait_for()
    assert page.evaluate("window.__same_page") is True  # htmx swapped the results in place
    page.get_by_role("link", name="Mina's SMA trend").click()
    page.wait_for_url(f"**/marketplace/{listing.id}/")
    page.wait_for_selector("[data-listing-chart] canvas", timeout=30_000)
    page.screenshot(path=str(SHOTS / "marketplace-listing.png"), full_page=True)

    # Buys it: the test-mode checkout, then the receipt.
    page.get_by_role("button", name="Buy for 20.00 USD").click()
    page.wait_for_url("**/checkout/**")
    page.get_by_text("Test mode: no card is charged").wait_for()
    page.get_by_role("button", name="Pay (test mode)").click()
    page.wait_for_url("**/marketplace/subscriptions/")
    page.get_by_text("Receipts").wait_for()
    subscription = Subscription.objects.get(user=trader)
    assert subscription.status == "active" and subscription.payments.get().amount == Decimal("20.00")

    # A day later (the subscription is backdated), the trader reviews it.
    Subscription.objects.filter(id=subscription.id).update(started_at=subscription.started_at - timedelta(days=1))
    page.goto(f"/marketplace/{listing.id}/")
    page.select_option("select[name=rating]", "4")
    page.fill("textarea[name=text]", "Clean signals on BTC; slow in ranges.")
    page.get_by_role("button", name="Post my review").click()
    page.get_by_text("Your review is saved.").wait_for()
    assert Review.objects.get().rating == 4 and Listing.objects.get().rating_count == 1

    # And starts a paper bot from it, with their own risk limits.
    page.goto("/marketplace/subscriptions/")
    page.get_by_role("link", name="Run this strategy").click()
    page.get_by_role("button", name="Create the bot").click()
    page.wait_for_url("**/trading/bots/")
    bot = Bot.objects.get(user=trader)
    assert bot.status == "running" and bot.strategy == subscription.version.script_version.slug
    page.get_by_text("Mina's SMA trend · v1 (marketplace)").first.wait_for()
    page.screenshot(path=str(SHOTS / "marketplace-bot.png"), full_page=True)

    # The ledger: 70 % owed to the creator, 30 % Trendy's, shown to staff.
    assert ledger.creator_balance(creator) == Decimal("14.00")
    assert ledger.balances()["platform_revenue"] == Decimal("-6.00")
    sign_in(page, staff)
    page.goto("/admin/marketplace/ledgerentry/")
    totals = page.locator("caption", has_text="Totals of the lines shown").locator("xpath=..")
    assert "-14.00 USD" in totals.inner_text() and "-6.00 USD" in totals.inner_text()
