"""Trendy's own evidence for a listing version: on submit a task backtests the script as written on every stored
candle of its markets (the public set) and on the candles after the creator's own latest backtest (out of sample);
staff can approve only a verified version. Real BTC/USDT 1h candles in PostgreSQL, the task run eagerly on commit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from marketplace import services, verification
from marketplace.models import ListingVersion
from marketplace.services import ListingDetails
from strategies.models import BacktestRun
from strategies.pine_services import pine_script_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stored_btc_1h")]

SMA = (Path(__file__).parents[1] / "pine" / "corpus" / "sma_cross_inputs.pine").read_text()


def _listing(alice, markets=("BTC/USDT",)):
    script = pine_script_create(user=alice, name="SMA", source=SMA).script
    details = ListingDetails(name="SMA trend", category="trend", timeframe="1h", markets=list(markets))
    return script, services.listing_create(creator=alice, script_id=script.id, details=details)


def _submit(alice, listing, capture):
    with capture(execute=True):
        services.listing_submit(creator=alice, listing_id=listing.id)
    return ListingVersion.objects.get(listing=listing)


def test_a_submitted_version_is_backtested_on_all_candles_and_after_the_creators_last_backtest(
    alice,
    staff,
    django_capture_on_commit_callbacks,
):
    script, listing = _listing(alice)
    # The creator backtested the script up to June 2024: the out-of-sample period starts there.
    BacktestRun.objects.create(
        user=alice, strategy=script.latest.slug, exchange="binance", symbol="BTC/USDT", timeframe="1h",
        start=datetime(2023, 1, 1, tzinfo=UTC), end=datetime(2024, 6, 1, tzinfo=UTC), initial_capital=Decimal(1000),
        fee_rate=Decimal("0.001"), slippage_bps=Decimal(5), leverage=1, position_size_pct=Decimal(10), status="done",
    )  # fmt: skip
    version = _submit(alice, listing, django_capture_on_commit_callbacks)
    assert (version.verification, version.progress, version.error) == ("passed", 100, "")
    result = version.result
    assert result["unseen_from"].startswith("2024-06-01") and result["trades"] >= verification.MIN_TRADES
    (market,) = result["markets"]
    public, unseen = market["public"], market["out_of_sample"]
    assert public["bars"] == 37_516 and public["first"].startswith("2020-09-20")
    assert unseen["first"].startswith("2024-06-01") and unseen["last"] == public["last"]
    assert unseen["bars"] < public["bars"] and unseen["metrics"]["trades"] < public["metrics"]["trades"]
    assert set(public["metrics"]) == set(verification.SHOWN_METRICS) and len(public["equity"]) > 100
    assert not version.few_trades
    listing.refresh_from_db()
    # The seed's field holds the released version's evidence; discovery's columns are read from it.
    assert listing.backtest_results == {**result, "version_id": str(version.id), "version": 1}
    assert listing.trades == result["trades"]
    assert float(listing.max_drawdown_pct) == pytest.approx(public["metrics"]["max_drawdown_pct"], abs=0.005)
    assert float(listing.oos_return_pct) == pytest.approx(unseen["metrics"]["total_return_pct"], abs=0.005)
    assert services.listing_review(staff=staff, listing_id=listing.id, approve=True).status == "published"
    assert verification.verify(version_id=version.id) == "skipped"  # once: a redelivered task does nothing


def test_without_a_backtest_of_their_own_the_newest_quarter_is_unseen(
    alice,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    monkeypatch.setattr(verification, "MIN_TRADES", 100_000)
    _script, listing = _listing(alice)
    version = _submit(alice, listing, django_capture_on_commit_callbacks)
    (market,) = version.result["markets"]
    assert version.result["unseen_from"] is None
    assert market["out_of_sample"]["bars"] == 37_516 - int(37_516 * 0.75)
    assert version.few_trades  # fewer trades than the minimum: marked so, still verified
    assert version.verification == "passed"


def test_a_market_without_candles_fails_the_verification_and_blocks_the_approval(
    alice,
    staff,
    django_capture_on_commit_callbacks,
):
    _script, listing = _listing(alice, markets=("BTC/USDT", "SOL/USDT"))
    version = _submit(alice, listing, django_capture_on_commit_callbacks)
    assert version.verification == "failed" and "SOL/USDT" in version.error, version.error
    with pytest.raises(ValidationError, match="not verified"):
        services.listing_review(staff=staff, listing_id=listing.id, approve=True)
    # Rejected, then sent again: the verification runs again (the candles may be there by then).
    services.listing_review(staff=staff, listing_id=listing.id, approve=False, reason="No SOL candles.")
    with django_capture_on_commit_callbacks(execute=True) as sent:
        services.listing_submit(creator=alice, listing_id=listing.id)
    assert len(sent) == 1


def test_a_published_listings_new_version_is_verified_then_released_and_subscribers_choose_when_to_move(
    alice, bob, charlie, staff, django_capture_on_commit_callbacks, monkeypatch
):
    from marketplace import subscriptions
    from strategies.pine_services import pine_version_add

    script, listing = _listing(alice)
    first = _submit(alice, listing, django_capture_on_commit_callbacks)
    services.listing_review(staff=staff, listing_id=listing.id, approve=True)
    held, _ = subscriptions.subscription_start(user=bob, listing_id=listing.id)
    assert held.version == first
    pine_version_add(user=alice, script_id=script.id, source=SMA.replace("30,", "40,"))
    with django_capture_on_commit_callbacks(execute=False) as queued:
        second = services.listing_version_add(creator=alice, listing_id=listing.id, notes="Slower average")
    listing.refresh_from_db()
    # Still published, still showing version 1 until Trendy has verified version 2.
    assert (listing.status, listing.backtest_results["version"], second.verification) == ("published", 1, "queued")
    assert listing.released == first
    with pytest.raises(ValidationError, match="newest version already"):
        subscriptions.subscription_version_move(user=bob, subscription_id=held.id)
    told = []
    monkeypatch.setattr(services, "notify", lambda user, kind, **data: told.append((user, kind, data)))
    for callback in queued:
        callback()  # the verification task, run now
    second.refresh_from_db()
    listing.refresh_from_db()
    assert second.verification == "passed" and listing.released == second
    assert listing.backtest_results["version"] == 2 and listing.backtest_results["markets"] == second.result["markets"]
    assert told == [(bob, "marketplace.new_version", {"listing": str(listing.id), "version": 2})]  # subscribers
    assert subscriptions.subscription_start(user=charlie, listing_id=listing.id)[0].version == second  # newcomers
    assert ListingVersion.objects.get(id=first.id).number == 1  # the history is kept
    assert subscriptions.subscription_version_move(user=bob, subscription_id=held.id).version == second
