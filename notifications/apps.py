from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from accounts import events
        from notifications.services import notification_create
        from notifications.stream import publish_event

        events.listen(publish_event)  # to the user's open app and dashboard connections, as it happened
        events.listen(notification_create)
