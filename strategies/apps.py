from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StrategiesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "strategies"
    verbose_name = _("Strategies")

    def ready(self) -> None:
        from strategies.builtin import RESOLVERS
        from strategies.pine_services import resolve

        RESOLVERS["pine"] = resolve  # stored Pine script versions: pine-<id hex>
