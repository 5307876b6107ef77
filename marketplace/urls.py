from django.urls import path

from marketplace import creator_views, views

app_name = "marketplace"
urlpatterns = [
    path("", views.listing_list, name="list"),
    path("mine/", creator_views.my_listings, name="mine"),
    path("new/", creator_views.listing_new, name="new"),
    path("earnings/", creator_views.creator_earnings, name="earnings"),
    path("<uuid:listing_id>/edit/", creator_views.listing_edit, name="edit"),
    path("<uuid:listing_id>/do/<slug:action>/", creator_views.listing_action, name="action"),
    path("<uuid:listing_id>/", views.listing_detail, name="detail"),
    path("<uuid:listing_id>/subscribe/", views.listing_subscribe, name="subscribe"),
    path("<uuid:listing_id>/review/", views.review_save, name="review"),
    path("reviews/<uuid:review_id>/reply/", views.review_reply, name="review_reply"),
    path("subscriptions/", views.subscription_list, name="subscriptions"),
    path("subscriptions/<uuid:subscription_id>/cancel/", views.subscription_cancel, name="subscription_cancel"),
    path(
        "subscriptions/<uuid:subscription_id>/newest-version/",
        views.subscription_version_move,
        name="subscription_version_move",
    ),
    path("subscriptions/<uuid:subscription_id>/run/", views.subscription_run, name="subscription_run"),
    path("checkout/<uuid:subscription_id>/test/", views.test_checkout, name="test_checkout"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
]
