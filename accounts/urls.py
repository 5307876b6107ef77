from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.settings_view, name="settings"),
    path("preferences/", views.preferences_update, name="preferences"),
    path("risk/", views.risk_profile_update, name="risk"),
    path("tokens/", views.api_token_create, name="token-create"),
    path("tokens/<int:token_id>/revoke/", views.api_token_revoke, name="token-revoke"),
]
