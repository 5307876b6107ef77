from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        from analytics.panels import signal_panel
        from trading.dashboard.chart import panel_register

        panel_register(signal_panel)  # the AI signal under the dashboard's vote
