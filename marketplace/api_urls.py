from django.urls import path

from marketplace import api

urlpatterns = [
    path("marketplace/strategies", api.ListingListCreateApi.as_view(), name="api-marketplace-list"),
    path("marketplace/strategies/<uuid:listing_id>", api.ListingDetailApi.as_view(), name="api-marketplace-detail"),
    path(
        "marketplace/strategies/<uuid:listing_id>/submit", api.ListingSubmitApi.as_view(), name="api-marketplace-submit"
    ),
    path("marketplace/my-strategies", api.MyListingsApi.as_view(), name="api-marketplace-mine"),
]
