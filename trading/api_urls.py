from django.urls import include, path

urlpatterns = [
    path("accounts-secure/", include("trading.exchange_accounts_api_urls")),
]
