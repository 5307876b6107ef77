from django.urls import path

from notifications import settings_views, views

app_name = "notifications"

urlpatterns = [
    path("", views.notification_list, name="list"),
    path("bell/", views.bell, name="bell"),
    path("read/", views.mark_read, name="mark-read"),
    path("settings/", settings_views.notification_settings, name="settings"),
    path("settings/channels/", settings_views.channel_add, name="channel-add"),
    path("settings/channels/<int:channel_id>/", settings_views.channel_change, name="channel"),
    path("settings/telegram/", settings_views.telegram_link, name="telegram-link"),
    path("settings/webpush/", settings_views.webpush_subscribe, name="webpush"),
    path("settings/preferences/", settings_views.preferences_save, name="preferences"),
]
