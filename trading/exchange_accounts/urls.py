"""``/trading/keys/``: the API keys page (url names ``trading:exchange-account…``)."""

from django.urls import path

from trading.exchange_accounts import views

urlpatterns = [
    path("", views.exchange_accounts, name="exchange-accounts"),
    path("new/", views.exchange_account_create, name="exchange-account-create"),
    path("<int:account_id>/test/", views.exchange_account_test_view, name="exchange-account-test"),
    path("<int:account_id>/toggle/", views.exchange_account_toggle, name="exchange-account-toggle"),
    path("<int:account_id>/delete/", views.exchange_account_delete, name="exchange-account-delete"),
]
