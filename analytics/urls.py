from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.portfolio_page, name="portfolio"),
    path("bots/", views.bots_page, name="bots"),
    path("bots/apply", views.bots_apply, name="bots-apply"),
    path("market/", views.market_page, name="market"),
    path("market/commentary", views.market_commentary, name="market-commentary"),
]
