from django.urls import path

from webhooks import api

urlpatterns = [
    path("webhooks/endpoints/", api.EndpointListCreateApi.as_view(), name="api-webhook-endpoint-list"),
    path("webhooks/endpoints/<int:endpoint_id>/", api.EndpointDetailApi.as_view(), name="api-webhook-endpoint-detail"),
    path(
        "webhooks/endpoints/<int:endpoint_id>/rotate/",
        api.EndpointRotateApi.as_view(),
        name="api-webhook-endpoint-rotate",
    ),
    path("webhooks/events/", api.EventListApi.as_view(), name="api-webhook-event-list"),
]
