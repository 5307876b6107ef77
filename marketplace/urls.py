from django.urls import path

from marketplace import views

app_name = "marketplace"
urlpatterns = [
    path("", views.listing_list, name="list"),
    path("<uuid:listing_id>/", views.listing_detail, name="detail"),
    path("<uuid:listing_id>/subscribe/", views.listing_subscribe, name="subscribe"),
    path("subscriptions/", views.subscription_list, name="subscriptions"),
    path("subscriptions/<uuid:subscription_id>/cancel/", views.subscription_cancel, name="subscription_cancel"),
    path(
        "subscriptions/<uuid:subscription_id>/newest-version/",
        views.subscription_version_move,
        name="subscription_version_move",
    ),
    path("checkout/<uuid:subscription_id>/test/", views.test_checkout, name="test_checkout"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
]
