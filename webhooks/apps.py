from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self) -> None:
        from trading.dashboard import selectors as dashboard
        from webhooks.activity import recent_alerts

        if recent_alerts not in dashboard.ACTIVITY_SOURCES:
            dashboard.ACTIVITY_SOURCES.append(recent_alerts)
