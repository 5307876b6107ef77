from django.urls import path

from webhooks import views_receive

app_name = "webhooks"

urlpatterns = [
    path("tv/<str:token>/", views_receive.receive, name="receive"),
]
