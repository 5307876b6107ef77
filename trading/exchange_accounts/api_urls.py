"""``/api/v1/accounts-secure/``: the seed's paths, without trailing slashes."""

from django.urls import path

from trading.exchange_accounts import api

urlpatterns = [
    path("register", api.ExchangeAccountRegisterApi.as_view(), name="api-exchange-account-register"),
    path("list", api.ExchangeAccountListApi.as_view(), name="api-exchange-account-list"),
    path("<int:account_id>", api.ExchangeAccountDeleteApi.as_view(), name="api-exchange-account-delete"),
    path("<int:account_id>/toggle", api.ExchangeAccountToggleApi.as_view(), name="api-exchange-account-toggle"),
    path("<int:account_id>/test", api.ExchangeAccountTestApi.as_view(), name="api-exchange-account-test"),
]
