"""The analytics pages: the portfolio (optimal weights, the frontier, Monte Carlo risk, Kelly), the capital
across the user's bots (the suggested split and applying it), and a market's intelligence (signal, regime, forecast,
sentiment: ``analytics/intelligence.py``). They read the same inputs as the API, through the
same serializers, and draw the same answers."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import ExchangeAccount, RiskProfile
from analytics import allocation, analysis, charts, data, intelligence, montecarlo, portfolio
from analytics.errors import AnalysisError
from analytics.serializers import (
    TIMEFRAMES,
    AllocationSerializer,
    KellySerializer,
    MarketQuerySerializer,
    PortfolioOptimizeSerializer,
)
from market_data.selectors import series_list
from strategies.labels import strategy_name
from strategies.models import BacktestRun
from trading.bots.services import bot_sizes_set
from trading.clock import data_exchange
from trading.models import Bot

DEFAULT_MARKETS = 5


RECENT_DAYS = 7
MARKETS_CACHE_SECONDS = 60  # the stored markets (one GROUP BY over every candle: 80 ms at 200,000 candles)


def _stored_markets(exchange: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Markets with candles stored on the exchange, by timeframe (daily, 4-hourly, hourly), for the page's
    choices; and, by timeframe, those whose candles reach within a week of the newest (the default selection:
    a market whose history stopped long ago would end the common window there)."""
    key = f"analytics:markets:{exchange}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    found: dict[str, list[str]] = {tf: [] for tf in TIMEFRAMES}
    recent: dict[str, list[str]] = {tf: [] for tf in TIMEFRAMES}
    series = [s for s in series_list() if s.exchange == exchange and s.timeframe in found]
    for tf in TIMEFRAMES:
        mine = [s for s in series if s.timeframe == tf]
        if not mine:
            continue
        newest = max(s.last_open_time for s in mine)
        for s in mine:
            if s.symbol not in found[tf]:
                found[tf].append(s.symbol)
                if s.last_open_time >= newest - timedelta(days=RECENT_DAYS):
                    recent[tf].append(s.symbol)
    cache.set(key, (found, recent), MARKETS_CACHE_SECONDS)
    return found, recent


def _errors(serializer: Any) -> list[str]:
    return [f"{message}" for messages_ in serializer.errors.values() for message in _flat(messages_)]


def _flat(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [m for v in value.values() for m in _flat(v)]
    if isinstance(value, list):
        return [m for v in value for m in _flat(v)]
    return [str(value)]


def _page_bounds(query: Any) -> dict[str, list[str]]:
    """A market's own minimum and maximum weight from the page's fields ``min:<symbol>`` and ``max:<symbol>``;
    a side left empty takes the page's minimum or maximum for every market."""
    bounds = {}
    for symbol in query.getlist("symbols"):
        low, high = query.get(f"min:{symbol}", "").strip(), query.get(f"max:{symbol}", "").strip()
        if low or high:
            bounds[symbol] = [low or query.get("min_weight") or "0", high or query.get("max_weight") or "100"]
    return bounds


def _page_data(query: Any, bounds: dict[str, list[str]]) -> dict[str, Any]:
    """The page's query string as the API's body (a field left empty is left out, as the API would be sent)."""
    data: dict[str, Any] = {"symbols": query.getlist("symbols"), "weight_bounds": bounds}
    for name in PortfolioOptimizeSerializer().fields:
        if name not in data and query.get(name, "") != "":
            data[name] = query.get(name)
    return data


def _kelly(request: HttpRequest) -> tuple[dict[str, Any] | None, list[str], str]:
    source = request.GET.get("kelly_source", "")
    if not source:
        return None, [], ""
    kind, _sep, ident = source.partition(":")
    body = {"bot_id": ident if kind == "bot" else None, "backtest_id": ident if kind == "backtest" else None}
    serializer = KellySerializer(data={**body, "kelly_multiplier": request.GET.get("kelly_multiplier", "0.5")})
    if not serializer.is_valid():
        return None, _errors(serializer), source
    v = serializer.validated_data
    try:
        result = analysis.kelly_analysis(
            user=request.user,
            bot_id=v["bot_id"],
            backtest_id=v["backtest_id"],
            multiplier=float(v["kelly_multiplier"]),
        )
    except AnalysisError as exc:
        return None, [exc.message], source
    return result, [], source


def _finished_runs(user: Any) -> list[BacktestRun]:
    runs = BacktestRun.objects.filter(user=user, status=BacktestRun.Status.DONE, kind=BacktestRun.Kind.BACKTEST)
    return list(runs.order_by("-created_at")[:30])


def _run_label(run: BacktestRun) -> str:
    return _("Backtest #%(id)s: %(strategy)s %(symbol)s %(tf)s") % {
        "id": run.id, "strategy": strategy_name(run.strategy), "symbol": run.symbol, "tf": run.timeframe
    }  # fmt: skip


def _kelly_sources(user: Any) -> list[tuple[str, str]]:
    bots = [(f"bot:{b.id}", _("Bot: %(name)s") % {"name": b.name}) for b in Bot.objects.filter(user=user)[:50]]
    return bots + [(f"backtest:{r.id}", _run_label(r)) for r in _finished_runs(user)]


@login_required
@require_GET
def portfolio_page(request: HttpRequest) -> HttpResponse:
    accounts = list(ExchangeAccount.objects.filter(user=request.user).order_by("id"))
    submitted = "symbols" in request.GET
    query = request.GET.copy()
    status, errors, result = 200, [], None
    account_id = query.get("account_id") or None
    try:
        exchange = analysis.account_exchange(user=request.user, account_id=int(account_id) if account_id else None)
    except ValueError:
        raise Http404 from None
    stored, recent = _stored_markets(exchange)
    if not query.get("timeframe"):  # daily when there are daily candles, else the longest timeframe stored
        query["timeframe"] = next((tf for tf in ("1d", "4h", "1h") if stored[tf]), "1d")
    markets = stored.get(query["timeframe"], [])
    if not submitted:
        query.setlist("symbols", recent.get(query["timeframe"], [])[:DEFAULT_MARKETS])
    bounds = _page_bounds(query)
    serializer = PortfolioOptimizeSerializer(data=_page_data(query, bounds))
    if serializer.is_valid():
        try:
            result = analysis.portfolio_analysis(serializer.to_request(exchange))
        except AnalysisError as exc:
            errors = [exc.message]
    else:
        errors = _errors(serializer)
    if errors and submitted:
        status = 400
    kelly, kelly_errors, kelly_source = _kelly(request)
    context = {
        "accounts": accounts,
        "account_id": str(account_id or ""),
        "exchange": exchange,
        "markets": markets,
        "chosen": set(query.getlist("symbols")),
        "has_bounds": bool(bounds),
        "bounds": [
            (symbol, query.get(f"min:{symbol}", ""), query.get(f"max:{symbol}", ""))
            for symbol in query.getlist("symbols")
        ],
        "values": {name: query.get(name, "") for name in PortfolioOptimizeSerializer().fields},
        "defaults": {name: field.default for name, field in PortfolioOptimizeSerializer().fields.items()},
        "methods": portfolio.METHODS,
        "timeframes": TIMEFRAMES,
        "covariances": portfolio.COVARIANCES,
        "return_kinds": portfolio.RETURN_KINDS,
        "mc_methods": montecarlo.METHODS,
        "errors": errors,
        "result": result,
        "weights_chart": charts.weight_bars(result["optimal_weights"], result["cash_weight"]) if result else None,
        "frontier_chart": charts.frontier_chart(result) if result else None,
        "fan_chart": charts.fan_chart(result["monte_carlo"]) if result else None,
        "kelly": kelly,
        "kelly_errors": kelly_errors,
        "kelly_source": kelly_source,
        "kelly_sources": _kelly_sources(request.user),
        "period_start": datetime.fromisoformat(result["conventions"]["start"]) if result else None,
        "period_end": datetime.fromisoformat(result["conventions"]["end"]) if result else None,
        "max_symbols": data.MAX_SYMBOLS,
        "scenarios": analysis.SCENARIOS,
    }
    return render(request, "analytics/portfolio.html", context, status=status)


@login_required
@require_GET
def bots_page(request: HttpRequest) -> HttpResponse:
    bots = list(
        Bot.objects.filter(user=request.user).select_related("exchange_account").order_by("exchange_account_id", "id")
    )
    limit = RiskProfile.objects.get_or_create(user=request.user)[0].position_size_pct
    submitted = "bots" in request.GET or "backtests" in request.GET
    status, errors, result = 200, [], None
    if submitted:
        serializer = AllocationSerializer(data=request.GET)
        if serializer.is_valid():
            v = serializer.validated_data
            try:
                result = allocation.allocation_analysis(
                    user=request.user,
                    bot_ids=v["bots"],
                    backtest_ids=v["backtests"],
                    method=v["optimization_method"],
                    lookback_days=v["lookback_days"],
                    profile_limit=limit,
                )
            except AnalysisError as exc:
                errors = [exc.message]
        else:
            errors = _errors(serializer)
        status = 400 if errors else 200
    context = {
        "bots": bots,
        "runs": [(run, _run_label(run)) for run in _finished_runs(request.user)],
        "chosen_runs": set(request.GET.getlist("backtests")),
        "chosen": set(request.GET.getlist("bots"))
        if submitted
        else {str(b.id) for b in bots if b.status == Bot.Status.RUNNING},
        "method": request.GET.get("optimization_method", "sharpe"),
        "lookback_days": request.GET.get("lookback_days", "180"),
        "methods": portfolio.METHODS,
        "limit": limit,
        "errors": errors,
        "result": result,
        "has_bots": bool(result) and any(row["kind"] == "bot" for row in result["bots"]),
        "result_rows": [(_("Current split"), result["current"]), (_("Suggested split"), result["suggested"])]
        if result
        else [],
    }
    return render(request, "analytics/bots.html", context, status=status)


@login_required
@require_POST
def bots_apply(request: HttpRequest) -> HttpResponse:
    sizes: dict[int, Decimal] = {}
    for key, value in request.POST.items():
        if key.startswith("size_"):
            try:
                sizes[int(key.removeprefix("size_"))] = Decimal(value)
            except (ValueError, InvalidOperation):
                messages.error(request, _("Send each size as a number."))
                return redirect(request.POST.get("back") or reverse("analytics:bots"))
    try:
        bots = bot_sizes_set(user=request.user, sizes=sizes)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            _("New position sizes: %(sizes)s.")
            % {"sizes": ", ".join(f"{b.name} {b.position_size_pct} %" for b in bots)},
        )
    back = request.POST.get("back", "")
    return redirect(back if back.startswith("/analytics/") else reverse("analytics:bots"))


@login_required
@require_GET
def market_page(request: HttpRequest) -> HttpResponse:
    """One market's intelligence: signal, regime, forecast, sentiment (``?symbol=BTCUSDT&timeframe=1h``)."""
    exchange = data_exchange("paper")
    choices = intelligence.markets(exchange)
    context: dict[str, Any] = {"exchange": exchange, "choices": choices, "timeframes": intelligence.TIMEFRAMES}
    if not choices:
        return render(request, "analytics/market.html", context)
    default = intelligence.default_market(choices)
    serializer = MarketQuerySerializer(
        data={
            "symbol": request.GET.get("symbol") or default["symbol"],
            "timeframe": request.GET.get("timeframe") or default["timeframe"],
        }
    )
    if not serializer.is_valid():
        context["errors"] = _errors(serializer)
        return render(request, "analytics/market.html", context, status=400)
    symbol, timeframe = serializer.validated_data["symbol"], serializer.validated_data["timeframe"]
    context.update(symbol=symbol, timeframe=timeframe)
    if not any(c["symbol"] == symbol and c["timeframe"] == timeframe for c in choices):
        context["errors"] = [
            _("No %(tf)s candles of %(symbol)s are stored on %(exchange)s.")
            % {"tf": timeframe, "symbol": symbol, "exchange": exchange}
        ]
        return render(request, "analytics/market.html", context, status=404)
    context.update(intelligence.page(exchange=exchange, symbol=symbol, timeframe=timeframe))
    return render(request, "analytics/market.html", context)


@login_required
@require_GET
def market_commentary(request: HttpRequest) -> HttpResponse:
    """The signal's commentary by the enabled language model (the page asks for it after it has drawn the signal,
    so a slow or failing language model never holds the page up)."""
    from analytics.commentaries import signal_commentary

    serializer = MarketQuerySerializer(data=request.GET)
    if not serializer.is_valid():
        return HttpResponse(status=400)
    v = serializer.validated_data
    try:
        answer = signal_commentary(
            exchange=data_exchange("paper"), symbol=v["symbol"], timeframe=v["timeframe"], language=get_language()
        )
    except AnalysisError as exc:
        answer = {"status": "unavailable", "reason": exc.message}
    query = {"symbol": v["symbol"].replace("/", ""), "timeframe": v["timeframe"]}
    return render(request, "analytics/partials/commentary.html", {"c": answer, "query": query})
