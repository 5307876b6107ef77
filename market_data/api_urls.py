from django.urls import path

from market_data import api

urlpatterns = [
    path("market-data/series/", api.SeriesListApi.as_view(), name="api-market-data-series"),
    path("market-data/candles/", api.CandlesApi.as_view(), name="api-market-data-candles"),
    path("market-data/tickers/", api.TickersApi.as_view(), name="api-market-data-tickers"),
]
