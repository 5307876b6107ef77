"""Strategy pages: the six strategies, new backtests and optimisations, results, comparison, Pine download.

Why this file is long: the strategy pages share forms, the result context and the chart data; each view is
short."""

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

from market_data import clock as market_clock
from market_data.labels import exchange_name, timeframe_label
from market_data.selectors import load_candles, series_info, series_list
from market_data.timeframes import TIMEFRAME_MS
from market_data.views import chart_data, local_seconds, points_zones, shift_points
from strategies import labels, selectors, services
from strategies.builtin import REGISTRY, find_strategy, get_strategy
from strategies.forms import SETTINGS_FIELDS, BacktestForm, OptimiseForm
from strategies.interface import Strategy, StrategyError
from strategies.labels import METRIC_LABELS
from strategies.messages import strategy_error_message
from strategies.models import BacktestRun
from strategies.optimise import SearchSpec
from strategies.pine_export import pine_filename, pine_script
from strategies.pine_services import strategy_usable, version_for_slug
from strategies.serializers import strategy_payload
from trading_site import display

STANDARD_MARKET = ("binance", "BTC/USDT", "1h")
CHART_BARS = 6000
TRADES_PER_PAGE = 100


def _iso_seconds(times: list[str]) -> list[int]:
    return local_seconds(pd.DatetimeIndex(pd.to_datetime(times, utc=True)))


def _parse_time(value: str | None) -> datetime | None:
    """Stored UTC ISO text as an aware datetime, so templates show it in the viewer's time zone."""
    return None if not value else pd.Timestamp(value).to_pydatetime()


def _strategy_or_404(slug: str, user: Any) -> Strategy:
    if not strategy_usable(user=user, slug=slug):  # a built-in or the user's own Pine script, never another's
        raise Http404(_("No such strategy."))
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


def _standard_end(market: tuple[str, str, str], last_open: datetime) -> datetime:
    """Where the standard backtest ends: after the last stored candle, but never past the last one the market
    clock has closed (on the replay clock, its now), cut to a whole day (UTC) so the period reads as days and
    the result is computed once a day, not on every tick of the replay."""
    end = min(last_open + timedelta(milliseconds=TIMEFRAME_MS[market[2]]), market_clock.now())
    return end.replace(hour=0, minute=0, second=0, microsecond=0)


def standard_backtests() -> dict[str, Any] | None:
    """Every strategy with its defaults on the last six months of the standard market (cached per data)."""
    market = _standard_market()
    if market is None:
        return None
    info = series_info(exchange=market[0], symbol=market[1], timeframe=market[2])
    end = _standard_end(market, info.last_open_time)
    key = f"standard-backtests:v2:{':'.join(market)}:{info.count}:{end.isoformat()}"
    found = cache.get(key)
    if found is not None:
        return found
    candles = load_candles(*market, end - services.DEFAULT_PERIOD, end)
    if candles.empty:
        return None
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
        "end": end.isoformat(),
        "results": results,
    }
    cache.set(key, found, timeout=3600)
    return found


def metric_cards(metrics: dict[str, Any], *, compact: bool = False) -> list[dict[str, str]]:
    """The metric cards of a run: each value formatted by its kind; the return and buy and hold marked as past."""
    keys = ["sharpe", "sortino", "max_drawdown_pct", "win_rate_pct", "profit_factor", "trades"]
    if not compact:
        keys += ["cagr_pct", "calmar", "exposure_pct", "fees_paid", "avg_win", "avg_loss"]

    def tone(key: str) -> str:
        value = metrics.get(key)
        if key == "max_drawdown_pct":
            return "down" if value else ""
        if key in ("total_return_pct", "avg_win", "avg_loss", "buy_hold_return_pct", "cagr_pct") and value:
            return "up" if value > 0 else "down"
        return ""

    names = {"total_return_pct": _("Return (past)"), "buy_hold_return_pct": _("Buy and hold (same period)")}
    return [
        {
            "label": names.get(key) or labels.metric_label(key),
            "value": labels.metric_value(key, metrics.get(key)),
            "tone": tone(key),
        }
        for key in ["total_return_pct", "buy_hold_return_pct", *keys]
    ]


@login_required
@require_GET
def strategy_list(request: HttpRequest) -> HttpResponse:
    standard = standard_backtests()
    strategies = []
    charts: dict[str, Any] = {}
    for strategy in REGISTRY.values():
        payload = strategy_payload(strategy)
        payload["name"] = labels.strategy_name(strategy)
        payload["params"] = [{**p, "default": labels.param_value(p["default"])} for p in payload["params"]]
        for p, spec in zip(payload["params"], strategy.params, strict=True):
            p["range"] = f"{labels.param_value(spec.minimum)} – {labels.param_value(spec.maximum)}"
        result = (standard or {}).get("results", {}).get(strategy.slug)
        payload["standard"] = result
        if result:
            payload["cards"] = metric_cards(result["metrics"], compact=True)
            charts[strategy.slug] = shift_points(result["equity"])
            charts.setdefault("zones", points_zones(result["equity"]))
        strategies.append(payload)
    context: dict[str, Any] = {
        "strategies": strategies,
        "standard": standard,
        "charts": charts,
        "pine_scripts": selectors.pine_script_list(user=request.user),
    }
    if standard:
        first, end = pd.Timestamp(standard["first"]).to_pydatetime(), pd.Timestamp(standard["end"]).to_pydatetime()
        market = standard["market"]
        context["standard_period"] = labels.period_text(first, end)
        context["standard_settings"] = _settings_text(services.RiskSettings())
        context["standard_market"] = (
            f"{market['symbol']} · {timeframe_label(market['timeframe'])} · {exchange_name(market['exchange'])}"
        )
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
    """The chosen days as moments in the trader's zone. The end never passes the market clock's now: on the
    replay clock a backtest must not use candles the replay has not reached (left empty, it ends there)."""

    def at_midnight(day: Any) -> datetime | None:
        return None if day is None else datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())

    start, end = at_midnight(form.cleaned_data.get("start")), at_midnight(form.cleaned_data.get("end"))
    exchange, symbol, timeframe = form.chosen_market()
    step = TIMEFRAME_MS[timeframe]
    now_ms = int(market_clock.now().timestamp() * 1000) // step * step
    cap = datetime.fromtimestamp(now_ms / 1000, tz=timezone.get_current_timezone())
    if end is not None and end > cap:
        end = cap
    elif end is None:
        info = series_info(exchange=exchange, symbol=symbol, timeframe=timeframe)
        if info is not None and info.last_open_time + timedelta(milliseconds=step) > cap:
            end = cap
    return start, end


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
    strategy = _strategy_or_404(slug, request.user)
    if request.method == "POST":
        form = form_cls(request.POST, strategy=strategy, user=request.user)
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
        form = form_cls(initial=initial, strategy=strategy, user=request.user)
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


def _market_text(run: BacktestRun) -> str:
    return f"{run.symbol} · {timeframe_label(run.timeframe)}"


@login_required
@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    runs = list(selectors.backtest_run_list(user=request.user)[:100])
    rows = [
        {
            "run": run,
            "name": labels.strategy_name(run.strategy),
            "market": _market_text(run),
            "period": labels.period_text(run.start, run.end),
            "comparable": run.kind == BacktestRun.Kind.BACKTEST and run.status == BacktestRun.Status.DONE,
            "return": labels.metric_value("total_return_pct", run.metrics.get("total_return_pct"))
            if run.metrics
            else display.MISSING,
            "return_tone": _tone(run.metrics.get("total_return_pct")),
            "sharpe": labels.metric_value("sharpe", run.metrics.get("sharpe")) if run.metrics else display.MISSING,
            "trades": labels.metric_value("trades", run.metrics.get("trades")) if run.metrics else display.MISSING,
        }
        for run in runs
    ]
    return render(request, "strategies/run_list.html", {"rows": rows})


def _tone(value: Any) -> str:
    return "" if not value else "up" if value > 0 else "down"


def _run_charts(run: BacktestRun) -> dict[str, Any]:
    """The run's candles (never past the market clock's now) with its entries and exits, and its equity."""
    end = market_clock.bounded_end(run.timeframe, run.end)
    candles = load_candles(run.exchange, run.symbol, run.timeframe, run.start, end, limit=CHART_BARS)
    data = chart_data(candles)
    trades = run.result.get("trades", [])
    if len(candles):
        shown_from, shown_to = candles.index[0], candles.index[-1]
        trades = [
            t
            for t in trades
            if pd.Timestamp(t["entry_time"]) >= shown_from and pd.Timestamp(t["entry_time"]) <= shown_to
        ]
        # An exit after the chart's last candle is not drawn (its entry still is).
        trades = [
            t if not t.get("exit_time") or pd.Timestamp(t["exit_time"]) <= shown_to else {**t, "exit_time": None}
            for t in trades
        ]
    else:
        trades = []
    markers, lines = labels.trade_markers(trades, run.symbol, _iso_seconds)
    return {
        "candles": data,
        "markers": markers,
        "lines": lines,
        "equity": shift_points(run.result.get("equity", [])),
        "buy_hold": shift_points(run.result.get("buy_hold", [])),
        "zones": data["zones"],
        "truncated": len(candles) >= CHART_BARS,
    }


def _settings_text(run: BacktestRun | services.RiskSettings) -> list[str]:
    """A run's money and risk settings as short phrases, in the trader's language."""
    items = [
        BacktestRun.Direction(run.direction).label,
        _("leverage %(leverage)s") % {"leverage": _("%(leverage)sx") % {"leverage": run.leverage}},
        _("%(size)s of equity per position") % {"size": display.percent(run.position_size_pct)},
        _("starting capital %(amount)s") % {"amount": display.amount(run.initial_capital)},
        _("fee %(rate)s per fill") % {"rate": display.percent(run.fee_rate * 100, 2)},
        _("slippage %(rate)s") % {"rate": display.percent(run.slippage_bps / 100, 2)},
    ]
    if getattr(run, "levels_by_bar", False):
        items.append(_("stop loss and take profit set by the script bar by bar"))
    else:
        items += [
            _("stop loss %(pct)s") % {"pct": display.percent(run.stop_loss_pct)}
            if run.stop_loss_pct is not None
            else _("no stop loss"),
            _("take profit %(pct)s") % {"pct": display.percent(run.take_profit_pct)}
            if run.take_profit_pct is not None
            else _("no take profit"),
        ]
    trail = getattr(run, "trailing_stop_pct", None)
    if trail is not None:
        start = run.trailing_activation_pct or 0
        items.append(
            _("trailing stop %(pct)s after a gain of %(gain)s")
            % {"pct": display.percent(trail), "gain": display.percent(start)}
            if start
            else _("trailing stop %(pct)s") % {"pct": display.percent(trail)}
        )
    entries = getattr(run, "pyramiding", 1) or 1
    if entries > 1:
        items.append(_("up to %(count)s entries per position") % {"count": entries})
    return [str(item) for item in items]


def _folds(run: BacktestRun) -> list[dict[str, Any]]:
    metric = run.result.get("metric") or run.search.get("metric", "")
    rows = []
    for number, fold in enumerate(run.result.get("folds", []), start=1):
        train = [pd.Timestamp(t).to_pydatetime() for t in fold["train"]]
        test = [pd.Timestamp(t).to_pydatetime() for t in fold["test"]]
        rows.append(
            {
                "number": number,
                "train": f"{display.day(train[0])} – {display.day(train[1])}",
                "test": f"{display.day(test[0])} – {display.day(test[1])}",
                "params": labels.params_list(run.strategy, fold.get("params", {})),
                "in_sample": labels.metric_value(metric, fold["in_sample"].get(metric)),
                "out_of_sample": labels.metric_value(metric, fold["out_of_sample"].get(metric)),
                "return_in": labels.metric_value("total_return_pct", fold["in_sample"].get("total_return_pct")),
                "return_out": labels.metric_value("total_return_pct", fold["out_of_sample"].get("total_return_pct")),
                "return_out_tone": _tone(fold["out_of_sample"].get("total_return_pct")),
                "trades_in": labels.metric_value("trades", fold["in_sample"].get("trades")),
                "trades_out": labels.metric_value("trades", fold["out_of_sample"].get("trades")),
            }
        )
    return rows


def _trade_rows(run: BacktestRun, page: Any) -> list[dict[str, Any]]:
    base, quote = display.base_and_quote(run.symbol)
    return [
        {
            "number": page.start_index() + i,
            "side": labels.side_label(t["side"]),
            "side_tone": "up" if t["side"] == "long" else "down",
            "entry_at": _parse_time(t.get("entry_time")),
            "exit_at": _parse_time(t.get("exit_time")),
            "entry_price": display.price(t.get("entry_price"), quote),
            "exit_price": display.price(t.get("exit_price"), quote),
            "size": display.quantity(t.get("size"), base),
            "fees": display.amount(t.get("fees"), quote),
            "pnl": display.amount(t.get("pnl"), quote, signed=True),
            "pnl_tone": _tone(t.get("pnl")),
            "return": display.percent(t.get("return_pct"), signed=True),
            "reason": labels.exit_reason_label(t.get("exit_reason")),
        }
        for i, t in enumerate(page.object_list)
    ]


@login_required
@require_GET
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.backtest_run_get_for_user(user=request.user, run_id=run_id)
    strategy = find_strategy(run.strategy)
    context: dict[str, Any] = {
        "run": run,
        "strategy": strategy,
        "pine_version": version_for_slug(user=request.user, slug=run.strategy),
        "name": labels.strategy_name(run.strategy),
        "market": _market_text(run),
        "exchange": exchange_name(run.exchange),
        "params": labels.params_list(run.strategy, run.params),
        "period": labels.period_text(run.start, run.end),
        "settings_items": _settings_text(run),
    }
    if run.kind == BacktestRun.Kind.OPTIMISATION:
        metric = run.search.get("metric", "")
        context["metric_label"] = labels.metric_label(metric)
        context["search_method"] = {"random": _("random search"), "grid": _("grid search")}.get(
            run.search.get("method", ""), ""
        )
        if run.status == BacktestRun.Status.DONE:
            context["folds"] = _folds(run)
    if run.status == BacktestRun.Status.DONE and run.kind == BacktestRun.Kind.OPTIMISATION and run.result.get("best"):
        query = {f"param_{k}": v for k, v in run.result["best"]["params"].items()}
        query.update(strategy=run.strategy, market=f"{run.exchange}|{run.symbol}|{run.timeframe}")
        context["best_url"] = f"{reverse('strategies:backtest-new')}?{urlencode(query)}"
    if run.status == BacktestRun.Status.DONE and run.kind == BacktestRun.Kind.BACKTEST:
        context["charts"] = _run_charts(run)
        context["cards"] = metric_cards(run.metrics)
        trades = run.result.get("trades", [])
        page = Paginator(trades, TRADES_PER_PAGE).get_page(request.GET.get("page"))
        context["trades"] = _trade_rows(run, page)
        context["trades_page"] = page
        context["gaps"] = [
            {"after_at": _parse_time(g["after"]), "before_at": _parse_time(g["before"]), "missing": g["missing"]}
            for g in run.result.get("gaps", [])
        ]
        context["gaps_missing"] = sum(g["missing"] for g in run.result.get("gaps", []))
        ambiguous = run.metrics.get("ambiguous_bars")
        if ambiguous:
            context["ambiguous"] = {
                "bars": ambiguous,
                "resolved": run.metrics.get("ambiguous_resolved_intrabar") or 0,
                "timeframe": timeframe_label(run.result.get("intrabar_timeframe") or "") or display.MISSING,
            }
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
    columns = [
        {
            "run": run,
            "name": labels.strategy_name(run.strategy),
            "market": _market_text(run),
            "period": labels.period_text(run.start, run.end),
            "params": labels.params_text(run.strategy, run.params),
        }
        for run in runs
    ]
    rows = [
        {
            "label": labels.metric_label(key),
            "values": [
                {"text": labels.metric_value(key, run.metrics.get(key)), "tone": _compare_tone(key, run.metrics)}
                for run in runs
            ],
        }
        for key in METRIC_LABELS
    ]
    charts: dict[str, Any] = {f"run{i}": shift_points(run.result.get("equity", [])) for i, run in enumerate(runs)}
    charts["zones"] = points_zones(runs[0].result.get("equity", []))
    return render(request, "strategies/compare.html", {"columns": columns, "rows": rows, "charts": charts})


def _compare_tone(key: str, metrics: dict[str, Any]) -> str:
    if labels.METRIC_KINDS.get(key) in ("pct_signed", "money_signed"):
        return _tone(metrics.get(key))
    return ""


def _builtin_or_404(slug: str) -> Strategy:
    if slug not in REGISTRY:  # the export is of a built-in; a Pine script's text is on its own page
        raise Http404(_("No such strategy."))
    return REGISTRY[slug]


@login_required
@require_GET
def pine_download(request: HttpRequest, slug: str) -> HttpResponse:
    strategy = _builtin_or_404(slug)
    params = {key: value for key, value in request.GET.items() if key != "run"}
    settings = None
    if request.GET.get("run", "").isdigit():
        run = selectors.backtest_run_get_for_user(user=request.user, run_id=int(request.GET["run"]))
        strategy = _builtin_or_404(run.strategy)
        params = run.params
        settings = {name: getattr(run, name) for name in SETTINGS_FIELDS}
        settings = {k: (float(v) if v is not None and k != "direction" else v) for k, v in settings.items()}
    try:
        script = pine_script(strategy, params, settings=settings)
        filename = pine_filename(strategy, strategy.validate(params))
    except StrategyError as exc:
        return HttpResponse(strategy_error_message(exc, strategy), status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(script, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
