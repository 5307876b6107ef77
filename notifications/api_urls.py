from django.urls import path

from notifications import api, channel_api

urlpatterns = [
    path("notifications", api.NotificationListApi.as_view(), name="api-notifications"),
    path("notifications/unread-count", api.NotificationUnreadCountApi.as_view(), name="api-notifications-unread"),
    path("notifications/mark-read", api.NotificationMarkReadApi.as_view(), name="api-notifications-mark-read"),
    path("notifications/channels", channel_api.ChannelListApi.as_view(), name="api-notification-channels"),
    path(
        "notifications/channels/<int:channel_id>",
        channel_api.ChannelDetailApi.as_view(),
        name="api-notification-channel",
    ),
    path(
        "notifications/channels/<int:channel_id>/test",
        channel_api.ChannelTestApi.as_view(),
        name="api-notification-channel-test",
    ),
    path("notifications/telegram-link", channel_api.TelegramLinkApi.as_view(), name="api-telegram-link"),
    path("notifications/telegram/webhook", channel_api.TelegramWebhookApi.as_view(), name="api-telegram-webhook"),
    path("notifications/preferences", channel_api.PreferencesApi.as_view(), name="api-notification-preferences"),
    path("notifications/webpush-key", channel_api.WebPushKeyApi.as_view(), name="api-webpush-key"),
    path("devices", channel_api.DeviceListApi.as_view(), name="api-devices"),
    path("devices/<int:device_id>", channel_api.DeviceDetailApi.as_view(), name="api-device"),
]
