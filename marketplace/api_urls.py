from django.urls import path

from marketplace import api

urlpatterns = [
    path("marketplace/strategies", api.ListingListCreateApi.as_view(), name="api-marketplace-list"),
    path("marketplace/strategies/<uuid:listing_id>", api.ListingDetailApi.as_view(), name="api-marketplace-detail"),
    path(
        "marketplace/strategies/<uuid:listing_id>/submit", api.ListingSubmitApi.as_view(), name="api-marketplace-submit"
    ),
    path(
        "marketplace/strategies/<uuid:listing_id>/subscribe",
        api.ListingSubscribeApi.as_view(),
        name="api-marketplace-subscribe",
    ),
    path(
        "marketplace/strategies/<uuid:listing_id>/review", api.ListingReviewApi.as_view(), name="api-marketplace-review"
    ),
    path(
        "marketplace/strategies/<uuid:listing_id>/reviews",
        api.ListingReviewsApi.as_view(),
        name="api-marketplace-reviews",
    ),
    path("marketplace/reviews/<uuid:review_id>/reply", api.ReviewReplyApi.as_view(), name="api-marketplace-reply"),
    path("marketplace/my-strategies", api.MyListingsApi.as_view(), name="api-marketplace-mine"),
    path("marketplace/my-subscriptions", api.MySubscriptionsApi.as_view(), name="api-marketplace-subscriptions"),
    path(
        "marketplace/subscriptions/<uuid:subscription_id>/cancel",
        api.SubscriptionCancelApi.as_view(),
        name="api-marketplace-subscription-cancel",
    ),
]
