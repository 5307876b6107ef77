"""Every periodic task Trendy runs, in one place (installed by ``manage.py setup_periodic_tasks``).

Each entry has an expiry: when workers fall behind, a stale run is dropped instead of running
late (PostHog's ``add_periodic_task_with_expiry``). Times are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PREFIX = "trendy: "


@dataclass(frozen=True)
class Entry:
    name: str
    task: str
    # crontab fields (https://crontab.guru): minute hour day_of_month month_of_year day_of_week
    crontab: str
    expires_seconds: int
    kwargs: dict[str, object] = field(default_factory=dict)
    every_seconds: int | None = None  # an interval instead of the crontab (for sub-minute ticks)

    @property
    def full_name(self) -> str:
        return PREFIX + self.name


SCHEDULE: list[Entry] = [
    # Fetch the closed candles of the markets in TRENDY_MARKET_FEEDS, a minute after each 5-minute close.
    Entry("fetch closed candles", "market_data.fetch_market_feeds", "1-59/5 * * * *", expires_seconds=240),
    # Fail backtest runs whose worker died, so their pages stop waiting; every 10 minutes.
    Entry("fail stale backtest runs", "strategies.fail_stale_runs", "*/10 * * * *", expires_seconds=540),
    # The trading loop: the candles that just closed, the paper exchange, a task per bot; every minute.
    Entry("trading tick", "trading.tick", "* * * * *", expires_seconds=50),
    # The replay clock: one candle forward when it is on (each call checks the clock's speed).
    Entry("replay tick", "trading.replay_tick", "* * * * *", expires_seconds=5, every_seconds=2),
    # Reconcile orders and positions with the exchanges every 5 minutes (and at worker start-up).
    Entry("reconcile", "trading.reconcile", "*/5 * * * *", expires_seconds=240),
    # Accepted TradingView alerts that no task picked up (a broker restart) are enqueued again; every minute.
    Entry("sweep webhook events", "webhooks.sweep_events", "* * * * *", expires_seconds=50),
    # Delete refused webhook events older than TRENDY_WEBHOOK_REFUSED_RETENTION_DAYS once a day.
    Entry("prune refused webhook events", "webhooks.prune_refused_events", "43 3 * * *", expires_seconds=3600),
    # Each active trader's last 24 hours (PnL, trades, drawdown) and the bots drifting from their backtests; daily.
    Entry("daily summary", "trading.daily_summary", "5 0 * * *", expires_seconds=3600),
    # Marketplace subscriptions: end the ones whose access is over (bots stop opening), renew test-mode monthly ones,
    # apply payment events that waited for an earlier one; every 5 minutes.
    Entry("expire subscriptions", "marketplace.expire_subscriptions", "*/5 * * * *", expires_seconds=240),
    # Retrain the markets' regime models every night (a task per market on the analytics queue).
    Entry("retrain regime models", "analytics.train_regime_models", "30 2 * * *", expires_seconds=3600),
    # Record each market's AI signal on the hour's closed bar (the live track record), two minutes past the hour.
    Entry("record signals", "analytics.record_signals", "2 * * * *", expires_seconds=1800),
    # Read the sentiment sources (when configured) and store a snapshot per asset; every 15 minutes.
    Entry("refresh sentiment", "analytics.refresh_sentiment", "7-59/15 * * * *", expires_seconds=600),
    # Notifications held for a digest (a burst, quiet hours) go out as one message per channel when due.
    Entry(
        "flush notification digests",
        "notifications.flush_digests",
        "* * * * *",
        expires_seconds=10,
        every_seconds=15,
    ),
    # The portfolio figures of /metrics (every account's latest equity and 30-day peak), computed once for every
    # scrape instead of at each one; every 30 seconds.
    Entry(
        "refresh portfolio metrics",
        "trading_site.refresh_portfolio_metrics",
        "* * * * *",
        expires_seconds=25,
        every_seconds=30,
    ),
    # Delete expired API tokens once a day.
    Entry("purge expired API tokens", "accounts.purge_expired_api_tokens", "17 3 * * *", expires_seconds=3600),
]
