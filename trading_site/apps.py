from django.apps import AppConfig


class TradingSiteConfig(AppConfig):
    name = "trading_site"
    verbose_name = "Trendy"

    def ready(self) -> None:
        from trading_site import checks  # noqa: F401 - registers the deploy checks
