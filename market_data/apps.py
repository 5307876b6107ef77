from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketDataConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "market_data"
    verbose_name = _("Market data")
