from django.urls import path

from analytics import api

urlpatterns = [
    path("portfolio/optimize", api.PortfolioOptimizeApi.as_view(), name="api-portfolio-optimize"),
    path("portfolio/kelly", api.PortfolioKellyApi.as_view(), name="api-portfolio-kelly"),
    path("portfolio/allocation", api.PortfolioAllocationApi.as_view(), name="api-portfolio-allocation"),
    path(
        "portfolio/allocation/apply", api.PortfolioAllocationApplyApi.as_view(), name="api-portfolio-allocation-apply"
    ),
    path("analytics/market-regime", api.MarketRegimeApi.as_view(), name="api-analytics-market-regime"),
    path("analytics/sentiment", api.SentimentApi.as_view(), name="api-analytics-sentiment"),
    path("analytics/predict", api.PredictApi.as_view(), name="api-analytics-predict"),
    path("analytics/signal", api.SignalApi.as_view(), name="api-analytics-signal"),
    path("analytics/signal/commentary", api.SignalCommentaryApi.as_view(), name="api-analytics-signal-commentary"),
]
