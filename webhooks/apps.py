from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "webhooks"

    def ready(self) -> None:
        from trading import dashboard
        from webhooks.activity import recent_alerts

        if recent_alerts not in dashboard.ACTIVITY_SOURCES:
            dashboard.ACTIVITY_SOURCES.append(recent_alerts)
