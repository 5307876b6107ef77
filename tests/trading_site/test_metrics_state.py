"""The state figures of /metrics read at scrape time: open positions (0 when none, per exchange with an account),
the portfolio per exchange (the latest equity summed, the worst drawdown from the 30-day peak), computed by the
beat's task into the cache and read from it by the scrape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from accounts.models import ExchangeAccount
from trading.models import EquitySnapshot, Position
from trading_site import metrics_state
from trading_site.tasks import refresh_portfolio_metrics

pytestmark = pytest.mark.django_db
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def figures() -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in metrics_state.StateCollector().collect()
        for sample in family.samples
    }


def test_positions_and_the_portfolio_per_exchange(alice, bob):
    mine = ExchangeAccount.objects.create(user=alice, exchange="paper", label="A", paper_balance=D(10_000))
    theirs = ExchangeAccount.objects.create(user=bob, exchange="paper", label="B", paper_balance=D(10_000))
    off = ExchangeAccount.objects.create(user=bob, exchange="paper", label="off", paper_balance=D(1), enabled=False)
    for account, curve in ((mine, [10_000, 11_000, 9_900]), (theirs, [5_000, 5_100]), (off, [1_000_000])):
        EquitySnapshot.objects.bulk_create(
            EquitySnapshot(exchange_account=account, time=T0 + timedelta(hours=k), balance=e, equity=e)
            for k, e in enumerate(curve)
        )
    EquitySnapshot.objects.create(exchange_account=mine, time=T0 - timedelta(days=40), balance=50_000, equity=50_000)
    Position.objects.create(user=alice, exchange_account=mine, symbol="BTC/USDT", side="long", amount=1,
                            entry_price=50_000, opened_at=T0)  # fmt: skip
    seen = figures()
    assert seen[("trendy_active_positions", (("exchange", "paper"), ("side", "long")))] == 1
    assert seen[("trendy_active_positions", (("exchange", "paper"), ("side", "short")))] == 0
    assert seen[("trendy_portfolio_value_usd", (("exchange", "paper"),))] == 9_900 + 5_100  # the disabled one not
    # 10 % below alice's 30-day peak (the 50,000 of 40 days earlier is outside the window); bob is at his peak
    assert seen[("trendy_portfolio_drawdown_percent", (("exchange", "paper"),))] == pytest.approx(10.0)
    assert seen[("trendy_portfolio_accounts", (("exchange", "paper"),))] == 2
    assert seen[("trendy_portfolio_figures_age_seconds", ())] < 5


def test_the_scrape_reads_the_figures_the_task_computed(alice):
    account = ExchangeAccount.objects.create(user=alice, exchange="paper", label="A", paper_balance=D(10_000))
    EquitySnapshot.objects.create(exchange_account=account, time=T0, balance=100, equity=100)
    assert refresh_portfolio_metrics() == 1
    EquitySnapshot.objects.create(exchange_account=account, time=T0 + timedelta(hours=1), balance=120, equity=120)
    assert figures()[("trendy_portfolio_value_usd", (("exchange", "paper"),))] == 100  # fresh in the cache
    refresh_portfolio_metrics()
    assert figures()[("trendy_portfolio_value_usd", (("exchange", "paper"),))] == 120
