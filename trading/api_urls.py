from django.urls import include, path

from trading import api

urlpatterns = [
    path("accounts-secure/", include("trading.exchange_accounts_api_urls")),
    path("bots/", api.BotListCreateApi.as_view(), name="api-bot-list"),
    path("bots/<int:bot_id>/", api.BotDetailApi.as_view(), name="api-bot-detail"),
    path("bots/<int:bot_id>/start/", api.BotStartApi.as_view(), name="api-bot-start"),
    path("bots/<int:bot_id>/pause/", api.BotPauseApi.as_view(), name="api-bot-pause"),
    path("bots/<int:bot_id>/stop/", api.BotStopApi.as_view(), name="api-bot-stop"),
    path("positions/", api.PositionListApi.as_view(), name="api-position-list"),
    path("positions/<int:position_id>/", api.PositionDetailApi.as_view(), name="api-position-detail"),
    path("positions/<int:position_id>/close/", api.PositionCloseApi.as_view(), name="api-position-close"),
    path("orders/", api.OrderListApi.as_view(), name="api-order-list"),
    path("orders/<int:order_id>/cancel/", api.OrderCancelApi.as_view(), name="api-order-cancel"),
    path("trades/", api.TradeListApi.as_view(), name="api-trade-list"),
    path("auto-trading/", api.AutoTradingApi.as_view(), name="api-auto-trading"),
]
