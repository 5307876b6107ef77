from django.urls import include, path

app_name = "trading"

urlpatterns = [
    path("keys/", include("trading.exchange_accounts_urls")),
]
