"""The trading app: bots, execution, the paper books, reconciliation, exchange accounts and the dashboard."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TradingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "trading"
    verbose_name = _("Trading")

    def ready(self) -> None:
        # Market data (the candles API, the charts) stops at the market clock's now: trading keeps the clock,
        # market_data must not import trading, so the clock is handed over here (market_data/clock.py).
        from market_data import clock as market_data_clock
        from trading import clock

        market_data_clock.register_now(clock.now)
        # The loop's overran ticks and last tick time on /metrics (trading/bots/metrics.py).
        from trading.bots import metrics

        metrics.register()
