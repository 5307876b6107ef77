from django.urls import path

from marketplace import views

app_name = "marketplace"
urlpatterns = [
    path("", views.listing_list, name="list"),
    path("<uuid:listing_id>/", views.listing_detail, name="detail"),
]
