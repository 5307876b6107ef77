"""Copy trading (issue 16): from a subscription, a bot running the listing's version with the trader's own risk
limits (paper by default, a live account only when confirmed); the subscriber can backtest and run the script but
never read it; when access ends the bot is paused with the reason and cannot start until access is back."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import escape

from accounts.models import ExchangeAccount
from marketplace import subscriptions
from marketplace.copy_trading import CopyRequest, copy_bot_create
from marketplace.models import Listing, Subscription
from strategies.pine_services import strategy_choices, strategy_usable
from tests.trading.conftest import list_paper_markets
from trading.bots.services import bot_set_status
from trading.models import Bot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("recent_candles")]


@pytest.fixture
def recent_candles():
    """The listing's markets on the paper exchange, with candles up to the last closed hour (the bot reads the
    script's exit levels off them)."""
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    list_paper_markets(["BTC/USDT", "ETH/USDT"], hour - timedelta(hours=1), candles=400)


@pytest.fixture
def bought(alice, bob, publish):
    listing = publish(alice, tier="pro", price="30.00", billing="monthly", markets=["BTC/USDT", "ETH/USDT"])
    subscription, _ = subscriptions.subscription_start(user=bob, listing_id=listing.id)
    return subscriptions.test_checkout_pay(user=bob, subscription_id=subscription.id)


@pytest.fixture
def paper(bob):
    return ExchangeAccount.objects.create(user=bob, exchange="paper", label="Paper", paper_balance=Decimal(10_000))


def test_a_subscriber_runs_the_strategy_on_paper_with_their_own_limits(bought, bob, paper, charlie):
    slug = bought.version.script_version.slug
    assert strategy_usable(user=bob, slug=slug) and not strategy_usable(user=charlie, slug=slug)
    assert (slug, "SMA trend · v1 (marketplace)") in strategy_choices(user=bob)
    bot = copy_bot_create(
        user=bob, subscription_id=bought.id, request=CopyRequest(exchange_account_id=paper.id, symbol="BTC/USDT")
    )
    profile = bob.risk_profile
    assert (bot.strategy, bot.symbol, bot.timeframe, bot.status, bot.direction) == (
        slug, "BTC/USDT", "1h", "running", "both",
    )  # fmt: skip
    assert (bot.position_size_pct, bot.max_drawdown_pct, bot.leverage) == (
        profile.position_size_pct, profile.max_drawdown_pct, 1,
    )  # fmt: skip
    with pytest.raises(ValidationError, match="markets the strategy is meant for"):
        copy_bot_create(user=bob, subscription_id=bought.id, request=CopyRequest(paper.id, "SOL/USDT"))
    with pytest.raises(ValidationError, match="no access"):  # another trader's subscription
        copy_bot_create(user=charlie, subscription_id=bought.id, request=CopyRequest(paper.id, "BTC/USDT"))


def test_a_live_account_needs_the_traders_confirmation(bought, bob):
    live = ExchangeAccount(user=bob, exchange="binance", label="Binance", market_type="spot")
    live.set_credentials(api_key="k" * 20, secret="s" * 20)
    live.save()
    with pytest.raises(ValidationError, match="real money"):
        copy_bot_create(user=bob, subscription_id=bought.id, request=CopyRequest(live.id, "BTC/USDT"))
    assert not Bot.objects.exists()


def test_when_access_ends_the_bot_stops_opening_positions_until_access_is_back(bought, bob, paper):
    bot = copy_bot_create(user=bob, subscription_id=bought.id, request=CopyRequest(paper.id, "BTC/USDT"))
    subscriptions.subscription_cancel(user=bob, subscription_id=bought.id)
    assert Bot.objects.get(id=bot.id).status == "running"  # paid until the period's end
    subscriptions.subscriptions_expire(now=bought.expires_at + timedelta(seconds=1))
    bot.refresh_from_db()
    assert (bot.status, bot.status_detail["code"]) == ("paused", "subscription_ended")
    assert not strategy_usable(user=bob, slug=bot.strategy)
    with pytest.raises(ValidationError, match="subscribe to it again"):
        bot_set_status(bot=bot, status="running")
    # Subscribed again: the bot may start.
    again, _ = subscriptions.subscription_start(user=bob, listing_id=bought.listing_id)
    subscriptions.test_checkout_pay(user=bob, subscription_id=again.id)
    assert bot_set_status(bot=bot, status="running").status == "running"


def test_the_subscriber_never_reads_the_source(bought, bob, client, paper):
    client.force_login(bob)
    script = bought.listing.script
    assert client.get(f"/strategies/pine/{script.id}/").status_code == 404
    copy_bot_create(user=bob, subscription_id=bought.id, request=CopyRequest(paper.id, "BTC/USDT"))
    source_line = escape(script.latest.source.splitlines()[2])  # as a page would show it
    for url in ("/trading/bots/", f"/marketplace/{bought.listing_id}/", "/marketplace/subscriptions/",
                f"/marketplace/subscriptions/{bought.id}/run/"):  # fmt: skip
        page = client.get(url)
        assert page.status_code == 200 and source_line not in page.text, url
    assert "SMA trend · v1 (marketplace)" in client.get("/trading/bots/").text


def test_the_run_page_creates_a_paper_bot_and_refuses_others(bought, bob, paper, client, charlie):
    client.force_login(charlie)
    assert client.get(f"/marketplace/subscriptions/{bought.id}/run/").status_code == 404
    client.force_login(bob)
    page = client.get(f"/marketplace/subscriptions/{bought.id}/run/")
    assert page.status_code == 200 and "I understand" in page.text
    answer = client.post(
        f"/marketplace/subscriptions/{bought.id}/run/",
        {"exchange_account": paper.id, "symbol": "ETH/USDT", "start": "on"},
    )
    assert answer.status_code == 302 and Bot.objects.get(symbol="ETH/USDT").status == "running"
    Subscription.objects.filter(id=bought.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    ended = client.get(f"/marketplace/subscriptions/{bought.id}/run/")
    assert "Your access to this strategy has ended." in ended.text


def test_the_creator_may_let_subscribers_read_the_script(bought, bob, client, charlie):
    listing = bought.listing
    source_line = escape(listing.script.latest.source.splitlines()[2])
    client.force_login(bob)
    assert source_line not in client.get(f"/marketplace/{listing.id}/").text  # off by default
    Listing.objects.filter(id=listing.id).update(source_to_subscribers=True)
    assert source_line in client.get(f"/marketplace/{listing.id}/").text  # a subscriber with access
    client.force_login(charlie)
    assert source_line not in client.get(f"/marketplace/{listing.id}/").text  # not a buyer
    Subscription.objects.filter(id=bought.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    client.force_login(bob)
    assert source_line not in client.get(f"/marketplace/{listing.id}/").text  # access ended
