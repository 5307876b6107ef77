from django.apps import AppConfig


class TradingSiteConfig(AppConfig):
    name = "trading_site"
    verbose_name = "Trendy"

    def ready(self) -> None:
        from trading_site import checks, metrics_state  # noqa: F401 - checks: registers the deploy checks

        metrics_state.register()  # open positions, portfolio, queues, model ages on /metrics
