"""Strategy pages: the six strategies, new backtests and optimisations, results, comparison, Pine download."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRefresh

from market_data.selectors import load_candles, series_info, series_list
from market_data.views import chart_data
from strategies import selectors, services
from strategies.builtin import REGISTRY, get_strategy
from strategies.forms import SETTINGS_FIELDS, BacktestForm, OptimiseForm
from strategies.interface import Strategy, StrategyError
from strategies.labels import EXIT_REASON_LABELS, METRIC_LABELS, SIDE_LABELS
from strategies.messages import strategy_error_message
from strategies.models import BacktestRun
from strategies.optimise import SearchSpec
from strategies.pine_export import pine_filename, pine_script
from strategies.serializers import strategy_payload

STANDARD_MARKET = ("binance", "BTC/USDT", "1h")
CHART_BARS = 6000
TRADES_PER_PAGE = 100


def _local_seconds(index: pd.DatetimeIndex) -> list[int]:
    """lightweight-charts draws times as UTC: shift to the viewer's wall clock, as the Markets chart does."""
    local = index.tz_convert(timezone.get_current_timezone()).tz_localize(None)
    return ((local - pd.Timestamp(0)) // pd.Timedelta(1, "s")).tolist()


def _shift_points(points: list[list[Any]]) -> list[dict[str, Any]]:
    if not points:
        return []
    index = pd.DatetimeIndex(pd.to_datetime([p[0] for p in points], unit="s", utc=True))
    return [{"time": t, "value": p[1]} for t, p in zip(_local_seconds(index), points, strict=True)]


def _parse_time(value: str | None) -> datetime | None:
    """Stored UTC ISO text as an aware datetime, so templates show it in the viewer's time zone."""
    return None if not value else pd.Timestamp(value).to_pydatetime()


def _strategy_or_404(slug: str) -> Strategy:
    try:
        return get_strategy(slug)
    except StrategyError:
        raise Http404(_("No such strategy.")) from None


# --- The strategies page --------------------------------------------------------------------


def _standard_market() -> tuple[str, str, str] | None:
    if series_info(exchange=STANDARD_MARKET[0], symbol=STANDARD_MARKET[1], timeframe=STANDARD_MARKET[2]):
        return STANDARD_MARKET
    stored = series_list()
    return (stored[0].exchange, stored[0].symbol, stored[0].timeframe) if stored else None


def standard_backtests() -> dict[str, Any] | None:
    """Every strategy with its defaults on the last six months of the standard market (cached per data)."""
    market = _standard_market()
    if market is None:
        return None
    info = series_info(exchange=market[0], symbol=market[1], timeframe=market[2])
    key = f"standard-backtests:v1:{':'.join(market)}:{info.count}:{info.last_open_time.isoformat()}"
    found = cache.get(key)
    if found is not None:
        return found
    end = info.last_open_time + timedelta(seconds=1)
    candles = load_candles(*market, end - services.DEFAULT_PERIOD, end)
    results: dict[str, Any] = {}
    for strategy in REGISTRY.values():
        try:
            result = services.backtest_compute(
                strategy=strategy,
                params=strategy.defaults(),
                candles=candles,
                risk=services.RiskSettings(),
                timeframe=market[2],
            )
        except StrategyError:
            continue
        payload = services.result_payload(result)
        results[strategy.slug] = {"metrics": payload["metrics"], "equity": payload["equity"]}
    found = {
        "market": {"exchange": market[0], "symbol": market[1], "timeframe": market[2]},
        "first": candles.index[0].isoformat(),
        "last": candles.index[-1].isoformat(),
        "results": results,
    }
    cache.set(key, found, timeout=3600)
    return found


@login_required
@require_GET
def strategy_list(request: HttpRequest) -> HttpResponse:
    standard = standard_backtests()
    strategies = []
    charts = {}
    for strategy in REGISTRY.values():
        payload = strategy_payload(strategy)
        payload["standard"] = (standard or {}).get("results", {}).get(strategy.slug)
        if payload["standard"]:
            charts[strategy.slug] = _shift_points(payload["standard"]["equity"])
        strategies.append(payload)
    context = {
        "strategies": strategies,
        "standard": standard,
        "standard_first": pd.Timestamp(standard["first"]) if standard else None,
        "standard_last": pd.Timestamp(standard["last"]) if standard else None,
        "charts": charts,
    }
    return render(request, "strategies/strategy_list.html", context)


# --- New backtests and optimisations ----------------------------------------------------------


def _initial_settings(user: Any) -> dict[str, Any]:
    """The user's own risk profile as the starting point, with the default friction."""
    profile = user.risk_profile
    return {
        "initial_capital": "10000",
        "fee_rate": "0.001",
        "slippage_bps": "5",
        "leverage": profile.leverage,
        "position_size_pct": profile.position_size_pct,
        "stop_loss_pct": profile.stop_loss_pct,
        "take_profit_pct": profile.take_profit_pct,
        "direction": BacktestRun.Direction.LONG,
    }


def _initial_market() -> str | None:
    market = _standard_market()
    return "|".join(market) if market else None


def _period(form: BacktestForm) -> tuple[datetime | None, datetime | None]:
    def at_midnight(day: Any) -> datetime | None:
        return None if day is None else datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())

    return at_midnight(form.cleaned_data.get("start")), at_midnight(form.cleaned_data.get("end"))


def _apply_errors(form: BacktestForm, exc: ValidationError) -> None:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    for field, messages in errors.items():
        name = (
            f"param_{field.removeprefix('params.')}" if field.startswith("params.") else field.removeprefix("search.")
        )
        if name == "symbol":
            name = "market"
        form.add_error(name if name in form.fields else None, messages)


def _run_form(request: HttpRequest, *, optimise: bool) -> HttpResponse:
    form_cls = OptimiseForm if optimise else BacktestForm
    slug = request.POST.get("strategy") or request.GET.get("strategy") or "ema_crossover"
    strategy = _strategy_or_404(slug)
    if request.method == "POST":
        form = form_cls(request.POST, strategy=strategy)
        if form.is_valid():
            exchange, symbol, timeframe = form.chosen_market()
            start, end = _period(form)
            search = None
            if optimise:
                search = SearchSpec(
                    **{name: form.cleaned_data[name] for name in ("method", "metric", "samples", "points", "folds")}
                )
            try:
                run = services.backtest_run_create(
                    user=request.user,
                    strategy=strategy.slug,
                    params=form.chosen_params(),
                    exchange=exchange,
                    symbol=symbol,
                    timeframe=timeframe,
                    start=start,
                    end=end,
                    risk=services.RiskSettings(**{name: form.cleaned_data[name] for name in SETTINGS_FIELDS}),
                    kind=BacktestRun.Kind.OPTIMISATION if optimise else BacktestRun.Kind.BACKTEST,
                    search=search,
                )
            except ValidationError as exc:
                _apply_errors(form, exc)
            else:
                return redirect("strategies:run-detail", run_id=run.id)
        status = 400
    else:
        initial = {**_initial_settings(request.user), "market": _initial_market()}
        # Parameters and market may come in the query string (e.g. an optimisation's best set).
        initial.update({key: value for key, value in request.GET.items() if key.startswith("param_")})
        if request.GET.get("market"):
            initial["market"] = request.GET["market"]
        form = form_cls(initial=initial, strategy=strategy)
        status = 200
    if request.htmx and request.GET.get("partial") == "params":
        return render(request, "strategies/partials/param_fields.html", {"form": form})
    template = "strategies/optimise_form.html" if optimise else "strategies/backtest_form.html"
    return render(
        request, template, {"form": form, "strategy": strategy, "has_data": bool(series_list())}, status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def backtest_new(request: HttpRequest) -> HttpResponse:
    return _run_form(request, optimise=False)


@login_required
@require_http_methods(["GET", "POST"])
def optimise_new(request: HttpRequest) -> HttpResponse:
    return _run_form(request, optimise=True)


# --- Runs -------------------------------------------------------------------------------------


@login_required
@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    runs = list(selectors.backtest_run_list(user=request.user)[:100])
    return render(request, "strategies/run_list.html", {"runs": runs, "names": _names()})


def _names() -> dict[str, str]:
    return {slug: strategy.name for slug, strategy in REGISTRY.items()}


def _markers(trades: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries as arrows (green long, red short), exits as dots coloured by the trade's result."""
    markers = []
    for trade in trades:
        long = trade["side"] == "long"
        entry = _local_seconds(pd.DatetimeIndex([pd.Timestamp(trade["entry_time"])]))[0]
        markers.append(
            {
                "time": entry,
                "position": "belowBar" if long else "aboveBar",
                "shape": "arrowUp" if long else "arrowDown",
                "color": "#16a34a" if long else "#dc2626",
            }
        )
        if trade.get("exit_time"):
            exit_ = _local_seconds(pd.DatetimeIndex([pd.Timestamp(trade["exit_time"])]))[0]
            markers.append(
                {
                    "time": exit_,
                    "position": "aboveBar" if long else "belowBar",
                    "shape": "circle",
                    "color": "#16a34a" if (trade.get("pnl") or 0) >= 0 else "#dc2626",
                }
            )
    return sorted(markers, key=lambda marker: marker["time"])


def _run_charts(run: BacktestRun) -> dict[str, Any]:
    candles = load_candles(run.exchange, run.symbol, run.timeframe, run.start, run.end, limit=CHART_BARS)
    data = chart_data(candles)
    trades = run.result.get("trades", [])
    shown_from = candles.index[0] if len(candles) else None
    visible = [t for t in trades if shown_from is None or pd.Timestamp(t["entry_time"]) >= shown_from]
    return {
        "candles": data,
        "markers": _markers(visible),
        "equity": _shift_points(run.result.get("equity", [])),
        "buy_hold": _shift_points(run.result.get("buy_hold", [])),
        "truncated": len(candles) >= CHART_BARS,
    }


@login_required
@require_GET
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.backtest_run_get_for_user(user=request.user, run_id=run_id)
    strategy = REGISTRY.get(run.strategy)
    context: dict[str, Any] = {"run": run, "strategy": strategy, "names": _names()}
    if run.kind == BacktestRun.Kind.OPTIMISATION:
        context["metric_label"] = METRIC_LABELS.get(run.search.get("metric", ""), run.search.get("metric", ""))
    if run.status == BacktestRun.Status.DONE and run.kind == BacktestRun.Kind.OPTIMISATION and run.result.get("best"):
        query = {f"param_{k}": v for k, v in run.result["best"]["params"].items()}
        query.update(strategy=run.strategy, market=f"{run.exchange}|{run.symbol}|{run.timeframe}")
        context["best_url"] = f"{reverse('strategies:backtest-new')}?{urlencode(query)}"
    if run.status == BacktestRun.Status.DONE and run.kind == BacktestRun.Kind.BACKTEST:
        context["charts"] = _run_charts(run)
        trades = run.result.get("trades", [])
        page = Paginator(trades, TRADES_PER_PAGE).get_page(request.GET.get("page"))
        context["trades"] = [
            {
                **t,
                "side_label": SIDE_LABELS.get(t["side"], t["side"]),
                "reason_label": EXIT_REASON_LABELS.get(t["exit_reason"], t["exit_reason"]),
                "number": page.start_index() + i,
                "entry_at": _parse_time(t.get("entry_time")),
                "exit_at": _parse_time(t.get("exit_time")),
            }
            for i, t in enumerate(page.object_list)
        ]
        context["trades_page"] = page
        context["gaps"] = [
            {**g, "after_at": _parse_time(g["after"]), "before_at": _parse_time(g["before"])}
            for g in run.result.get("gaps", [])
        ]
    return render(request, "strategies/run_detail.html", context)


@login_required
@require_GET
def run_progress(request: HttpRequest, run_id: int) -> HttpResponse:
    """Polled by htmx while a run is queued or running; once it has finished, the page reloads."""
    run = selectors.backtest_run_get_for_user(user=request.user, run_id=run_id)
    if run.finished and request.htmx:
        return HttpResponseClientRefresh()
    return render(request, "strategies/partials/run_progress.html", {"run": run})


@login_required
@require_GET
def run_compare(request: HttpRequest) -> HttpResponse:
    ids = [value for value in (request.GET.get("a"), request.GET.get("b")) if value]
    if len(ids) != 2 or not all(value.isdigit() for value in ids):
        return render(
            request,
            "strategies/compare.html",
            {"error": _("Choose two runs to compare."), "runs": []},
            status=400,
        )
    runs = [selectors.backtest_run_get_for_user(user=request.user, run_id=int(value)) for value in ids]
    keys = list(METRIC_LABELS)
    rows = [(METRIC_LABELS[key], [run.metrics.get(key) for run in runs]) for key in keys]
    charts = {f"run{i}": _shift_points(run.result.get("equity", [])) for i, run in enumerate(runs)}
    return render(request, "strategies/compare.html", {"runs": runs, "rows": rows, "charts": charts, "names": _names()})


@login_required
@require_GET
def pine_download(request: HttpRequest, slug: str) -> HttpResponse:
    strategy = _strategy_or_404(slug)
    params = {key: value for key, value in request.GET.items() if key != "run"}
    settings = None
    if request.GET.get("run", "").isdigit():
        run = selectors.backtest_run_get_for_user(user=request.user, run_id=int(request.GET["run"]))
        strategy = _strategy_or_404(run.strategy)
        params = run.params
        settings = {name: getattr(run, name) for name in SETTINGS_FIELDS}
        settings = {k: (float(v) if v is not None and k != "direction" else v) for k, v in settings.items()}
    try:
        script = pine_script(strategy, params, settings=settings)
        filename = pine_filename(strategy, strategy.validate(params))
    except StrategyError as exc:
        return HttpResponse(strategy_error_message(exc), status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(script, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
