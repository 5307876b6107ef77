from django.urls import path

from market_data import views

app_name = "market_data"

urlpatterns = [
    path("", views.markets, name="markets"),
]
