from django.urls import path

from notifications import api

urlpatterns = [
    path("notifications", api.NotificationListApi.as_view(), name="api-notifications"),
    path("notifications/unread-count", api.NotificationUnreadCountApi.as_view(), name="api-notifications-unread"),
    path("notifications/mark-read", api.NotificationMarkReadApi.as_view(), name="api-notifications-mark-read"),
]
