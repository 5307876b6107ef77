from django.urls import path

from accounts import api

urlpatterns = [
    path("auth/token/", api.TokenObtainApi.as_view(), name="api-token-obtain"),
    path("auth/token/rotate", api.TokenRotateApi.as_view(), name="api-token-rotate"),
    path("auth/sessions", api.SessionListApi.as_view(), name="api-sessions"),
    path("auth/sessions/<int:token_id>", api.SessionRevokeApi.as_view(), name="api-session-revoke"),
    path("auth/logout", api.LogoutApi.as_view(), name="api-logout"),
    path("auth/logout-everywhere", api.LogoutEverywhereApi.as_view(), name="api-logout-everywhere"),
    path("me/", api.MeApi.as_view(), name="api-me"),
]
