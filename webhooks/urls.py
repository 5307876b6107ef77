from django.urls import path

from webhooks import views, views_receive

app_name = "webhooks"

urlpatterns = [
    path("tv/<str:token>/", views_receive.receive, name="receive"),
    path("", views.webhooks_page, name="page"),
    path("new/", views.endpoint_new, name="endpoint-create"),
    path("new/fields/", views.endpoint_form_fields, name="endpoint-fields"),
    path("<int:endpoint_id>/rotate/", views.endpoint_rotate, name="endpoint-rotate"),
    path("<int:endpoint_id>/revoke/", views.endpoint_revoke, name="endpoint-revoke"),
    path("<int:endpoint_id>/active/", views.endpoint_active, name="endpoint-active"),
    path("<int:endpoint_id>/reveal/", views.endpoint_reveal, name="endpoint-reveal"),
    path("<int:endpoint_id>/test/", views.endpoint_test, name="endpoint-test"),
    path("<int:endpoint_id>/guide/", views.endpoint_guide, name="endpoint-guide"),
    path("events/", views.event_list, name="events"),
    path("events/<int:event_id>/row/", views.event_row, name="event-row"),
]
