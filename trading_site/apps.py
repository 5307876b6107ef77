from django.apps import AppConfig


class TradingSiteConfig(AppConfig):
    name = "trading_site"
    verbose_name = "Trendy"
