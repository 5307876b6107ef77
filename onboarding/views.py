"""The onboarding wizard's pages: ``/onboarding/`` sends the trader to their current step; each step is a
partial (``templates/onboarding/partials/step_<n>.html``) that htmx swaps into ``#wizard``, and a full page
without JavaScript. Views parse the input and call ``onboarding.services``; they write nothing themselves.

Why this file is long: one view per wizard step, each parsing its own form; together they are the wizard's
HTTP surface."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from accounts import selectors as account_selectors
from onboarding import services
from onboarding.forms import STEP_FORMS, ConnectForm, FinishForm, RiskForm, StrategyForm, WizardForm
from onboarding.models import STEPS, OnboardingState
from strategies import services as strategy_services
from strategies.builtin import REGISTRY
from strategies.labels import strategy_name
from strategies.models import BacktestRun
from strategies.pine_export import alert_payload
from strategies.serializers import strategy_payload
from strategies.views import standard_backtests

STEP_TITLES = {
    1: gettext_lazy("Connect an exchange"),
    2: gettext_lazy("Choose a strategy"),
    3: gettext_lazy("Risk settings"),
    4: gettext_lazy("TradingView webhook"),
    5: gettext_lazy("First backtest"),
}
SECRET_PLACEHOLDER = "YOUR_ENDPOINT_SECRET"  # noqa: S105 - a placeholder, not a secret


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _step_url(step: int) -> str:
    return reverse("onboarding:step", args=[step])


# --- context per step -------------------------------------------------------------------------


def _initial(state: OnboardingState, step: int) -> dict[str, Any]:
    data = state.data
    if step == 2:
        return {"risk_level": data.get("risk_level", ""), "strategy": data.get("strategy")}
    if step == 3:
        level = services.RISK_LEVELS.get(data.get("risk_level", ""), services.RISK_LEVELS["balanced"])
        return {name: data.get(name, level.defaults()[name]) for name in services.RISK_FIELDS}
    return {}


KINDS = ("paper", "binance", "okx")


def _kind(request: HttpRequest, form: WizardForm) -> str:
    """Step 1's first choice: ``paper``, ``binance`` or ``okx`` (its form is shown), ``choose`` (the choice
    again, after an account was connected) or ``""`` (nothing chosen yet)."""
    if form.is_bound:  # a refused submission: its own form again (a refused "existing" account: the choice)
        kind = str(form.data.get("exchange") or "")
        return kind if kind in KINDS and form.data.get("action") == "connect" else "choose"
    kind = request.GET.get("kind", "")
    return kind if kind in (*KINDS, "choose") else ""


def _step_1(request: HttpRequest, state: OnboardingState, form: WizardForm) -> dict[str, Any]:
    connection = state.data.get("connection")
    balance, example = services.balance_of(state=state)
    kind = _kind(request, form)
    if kind in KINDS and not form.is_bound:
        # The chosen kind's own form, with a label to start from.
        form = ConnectForm(initial={"exchange": kind, "label": services.default_label(user=request.user, kind=kind)})
    return {
        "form": form,
        "kind": kind,
        "accounts": list(account_selectors.exchange_account_list(user=request.user)),
        "account": services.chosen_account(state=state),
        "connection": connection,
        "connected_balance": None if example else balance,
    }


def _step_2(request: HttpRequest, state: OnboardingState, form: WizardForm) -> dict[str, Any]:
    standard = standard_backtests()
    results = (standard or {}).get("results", {})
    answers = form.data if form.is_bound else {}
    suggestion = services.suggest_risk_level(answers) if answers else None
    level = services.RISK_LEVELS.get(suggestion or state.data.get("risk_level") or "")
    strategies = []
    for strategy in REGISTRY.values():
        payload = strategy_payload(strategy)
        payload["standard"] = results.get(strategy.slug)
        payload["suggested"] = level is not None and strategy.slug in level.strategies
        strategies.append(payload)
    levels = []
    for level in services.RISK_LEVELS.values():
        names = [strategy_name(slug) for slug in level.strategies if slug in REGISTRY]
        levels.append({"level": level, "strategy_names": names})
    return {
        "strategies": strategies,
        "standard": standard,
        "standard_first": _moment((standard or {}).get("first")),
        "standard_last": _standard_last(standard or {}),
        "standard_risk": strategy_services.RiskSettings(),  # what standard_backtests() runs with
        "levels": levels,
        "suggestion": services.RISK_LEVELS.get(suggestion or ""),
    }


def _standard_last(standard: dict[str, Any]) -> datetime | None:
    """The last moment inside the standard backtest's period (its ``end`` is exclusive)."""
    end = _moment(standard.get("end"))
    return end - timedelta(microseconds=1) if end is not None else _moment(standard.get("last"))


def _moment(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except (TypeError, ValueError):
        return None


def _step_3(request: HttpRequest, state: OnboardingState, form: WizardForm) -> dict[str, Any]:
    values = form.data if form.is_bound else form.initial
    return _explanation_context(state, values)


def _explanation_context(state: OnboardingState, values: Any) -> dict[str, Any]:
    balance, example = services.balance_of(state=state)
    explanation = services.risk_explanation(
        balance=balance, **{name: values.get(name) for name in services.RISK_FIELDS}
    )
    return {"explanation": explanation, "example_balance": example, "values": values}


def _settings(state: OnboardingState) -> dict[str, Any]:
    return {name: float(state.data[name]) for name in services.RISK_FIELDS if name in state.data}


def _step_4(request: HttpRequest, state: OnboardingState, secret: str = "") -> dict[str, Any]:
    endpoint = services.chosen_endpoint(state=state)
    account = services.chosen_account(state=state)
    if endpoint is not None and account is not None and endpoint.exchange_account_id != account.pk:
        endpoint = None  # made for another account before the trader went back to step 1
    slug = state.data.get("strategy", "")
    context: dict[str, Any] = {"endpoint": endpoint, "secret": secret}
    if slug in REGISTRY:
        query = "&".join(f"{k}={v}" for k, v in (state.data.get("params") or {}).items())
        context["pine_url"] = reverse("strategies:pine", args=[slug]) + (f"?{query}" if query else "")
        context["strategy"] = REGISTRY[slug]
    if endpoint is not None:
        context["endpoint_url"] = request.build_absolute_uri(reverse("webhooks:receive", args=[endpoint.token]))
        payload = alert_payload(_settings(state), secret or SECRET_PLACEHOLDER)
        context["message_json"] = json.dumps(payload, indent=2)
        context["guide_url"] = reverse("webhooks:endpoint-guide", args=[endpoint.pk])
    return context


def _equity(run: BacktestRun) -> list[dict[str, Any]]:
    return [{"time": int(point[0]), "value": point[1]} for point in run.result.get("equity", [])]


def _step_5(request: HttpRequest, state: OnboardingState) -> dict[str, Any]:
    run = services.chosen_run(state=state)
    account = services.chosen_account(state=state)
    market = services.backtest_market()
    balance, example = services.balance_of(state=state)
    paper_account, paper_balance = services.paper_target(user=request.user, account=account)
    context: dict[str, Any] = {
        "run": run,
        "account": account,
        "market": market,
        "capital": balance,
        "example_balance": example,
        "strategy": REGISTRY.get(state.data.get("strategy", "")),
        "auto_trading_on": request.user.auto_trading,
        "paper_account": paper_account,
        "paper_money": services.auto_trading_money(balance=paper_balance, data=state.data),
        "live_money": None,
    }
    if account is not None and not account.is_paper:
        context["live_money"] = services.auto_trading_money(balance=balance, data=state.data)
        context["live_example"] = example
    if run is not None and run.status == BacktestRun.Status.DONE:
        context["equity"] = _equity(run)
        context["run_last"] = run.end - timedelta(microseconds=1)  # the end is exclusive: its last day
    return context


def _context(
    request: HttpRequest,
    state: OnboardingState,
    step: int,
    *,
    form: WizardForm | None = None,
    error: str = "",
    notice: str = "",
    **extra: Any,
) -> dict[str, Any]:
    if form is None:
        form = STEP_FORMS[step](initial=_initial(state, step)) if step in STEP_FORMS else WizardForm()
    context: dict[str, Any] = {
        "state": state,
        "step": step,
        "steps": [(n, STEP_TITLES[n]) for n in range(1, STEPS + 1)],
        "title": STEP_TITLES.get(step, ""),
        "form": form,
        "error": error,
        "notice": notice,
        "data": state.data,
    }
    if state.done:
        context["bot"] = services.chosen_bot(state=state)
    elif step == 1:
        context.update(_step_1(request, state, form))
    elif step == 2:
        context.update(_step_2(request, state, form))
    elif step == 3:
        context.update(_step_3(request, state, form))
    elif step == 4:
        context.update(_step_4(request, state, extra.pop("secret", "")))
    elif step == 5:
        context.update(_step_5(request, state))
        context.setdefault("finish_form", extra.pop("finish_form", None) or FinishForm())
    context.update(extra)
    return context


def _render(request: HttpRequest, state: OnboardingState, step: int, *, status: int = 200, **kw: Any) -> HttpResponse:
    """The step as a partial for htmx (the browser's address follows it), or the whole page."""
    context = _context(request, state, step, **kw)
    template = "onboarding/partials/done.html" if state.done else f"onboarding/partials/step_{step}.html"
    context["step_template"] = template
    if getattr(request, "htmx", False):
        response = render(request, template, context, status=status)
        if state.done:
            response["HX-Push-Url"] = reverse("onboarding:start")
        elif request.method == "GET" and request.path == _step_url(step):
            response["HX-Push-Url"] = request.get_full_path()  # keeps step 1's ?kind=
        else:
            response["HX-Push-Url"] = _step_url(step)
        return response
    return render(request, "onboarding/wizard.html", context, status=status)


def _refused(request: HttpRequest, state: OnboardingState, exc: services.WizardError) -> HttpResponse:
    """A submission refused as a whole: back to the current step with the reason; nothing changed."""
    if request.htmx:
        return _render(request, state, state.step, status=400, error=exc.message)
    messages.error(request, exc.message)
    return redirect("onboarding:start" if state.done else _step_url(state.step))


# --- views ------------------------------------------------------------------------------------


@login_required
@never_cache
@require_GET
def start(request: HttpRequest) -> HttpResponse:
    state = services.state_for(user=request.user)
    if state.done:
        return _render(request, state, state.step)
    return redirect("onboarding:step", step=state.step)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def step_view(request: HttpRequest, step: int) -> HttpResponse:
    state = services.state_for(user=request.user)
    if request.method == "GET":
        if state.done:
            return _render(request, state, state.step)
        if not 1 <= step <= STEPS or step > state.step:
            messages.info(request, _("Finish step %(current)d first: the steps go in order.") % {"current": state.step})
            return redirect("onboarding:step", step=state.step)
        return _render(request, state, step)

    try:
        services.check_order(state=state, step=step)
    except services.WizardError as exc:
        return _refused(request, state, exc)
    form = STEP_FORMS[step](request.POST)
    if not form.is_valid():
        return _render(request, state, step, status=400, form=form)
    data = form.service_data() if hasattr(form, "service_data") else dict(form.cleaned_data)
    try:
        result = services.step_submit(user=request.user, step=step, data=data)
    except services.WizardError as exc:
        return _refused(request, services.state_for(user=request.user), exc)
    except ValidationError as exc:
        form.apply_errors(exc)
        return _render(request, services.state_for(user=request.user), step, status=400, form=form)

    new_state = result.state
    if result.secret:
        # The secret is shown once, in this answer: never through a redirect or the stored state.
        return _render(request, new_state, 4, secret=result.secret, notice=result.notice)
    if request.htmx:
        return _render(request, new_state, new_state.step, notice=result.notice)
    if result.notice:
        messages.success(request, result.notice)
    return redirect("onboarding:step", step=new_state.step)


@login_required
@require_POST
def back(request: HttpRequest) -> HttpResponse:
    try:
        state = services.step_back(user=request.user)
    except services.WizardError as exc:
        return _refused(request, services.state_for(user=request.user), exc)
    if request.htmx:
        return _render(request, state, state.step)
    return redirect("onboarding:step", step=state.step)


@login_required
@require_POST
def finish(request: HttpRequest) -> HttpResponse:
    form = FinishForm(request.POST)
    form.is_valid()  # check boxes: always valid
    try:
        bot = services.onboarding_finish(
            user=request.user,
            live=form.cleaned_data["live"],
            confirm=form.cleaned_data["confirm"],
            auto_trading=form.cleaned_data["auto_trading"],
        )
    except services.WizardError as exc:
        if exc.code == "done":
            messages.info(request, _("Already done: your bot was created when you finished the onboarding."))
            if request.htmx:
                return HttpResponseClientRedirect(reverse("trading:dashboard"))
            return redirect("trading:dashboard")
        return _refused(request, services.state_for(user=request.user), exc)
    except ValidationError as exc:
        form.apply_errors(exc)
        state = services.state_for(user=request.user)
        return _render(request, state, 5, status=400, finish_form=form)
    if not request.user.auto_trading:
        messages.info(
            request,
            _(
                "Your bot “%(name)s” is ready, and waits: auto-trading is off, so it places no order until you "
                "turn it on (the switch at the top of every page)."
            )
            % {"name": bot.name},
        )
    elif bot.exchange_account.is_paper:
        messages.success(request, _("Your bot “%(name)s” is running on paper.") % {"name": bot.name})
    else:
        messages.success(request, _("Your bot “%(name)s” is running live.") % {"name": bot.name})
    if request.htmx:
        return HttpResponseClientRedirect(reverse("trading:dashboard"))
    return redirect("trading:dashboard")


@login_required
@require_POST
def dismiss(request: HttpRequest) -> HttpResponse:
    """The trader said "not now": to the dashboard; signing in no longer leads here (the dashboard links back)."""
    services.onboarding_dismiss(user=request.user)
    messages.info(request, _("The guided setup waits for you where you left it."))
    if request.htmx:
        return HttpResponseClientRedirect(reverse("trading:dashboard"))
    return redirect("trading:dashboard")


@login_required
@require_GET
def suggestion(request: HttpRequest) -> HttpResponse:
    """Step 2's questionnaire: the risk level and strategies the answers suggest (htmx, as they change)."""
    state = services.state_for(user=request.user)
    context = _step_2(request, state, StrategyForm(request.GET))
    return render(request, "onboarding/partials/suggestion.html", context)


@login_required
@require_GET
def explanation(request: HttpRequest) -> HttpResponse:
    """Step 3's plain-language money figures for the values in the form (htmx, as they change)."""
    state = services.state_for(user=request.user)
    RiskForm(request.GET)  # the same names as the form; the figures check their own input
    return render(request, "onboarding/partials/explanation.html", _explanation_context(state, request.GET))


@login_required
@never_cache
@require_GET
def progress(request: HttpRequest) -> HttpResponse:
    """Polled by htmx while the backtest runs; once finished, the whole step 5 replaces the wizard."""
    state = services.state_for(user=request.user)
    run = services.chosen_run(state=state)
    if run is None or run.finished or state.done or state.step != 5:
        response = _render(request, state, state.step)
        response["HX-Retarget"] = "#wizard"
        response["HX-Reswap"] = "innerHTML"
        return response
    return render(request, "onboarding/partials/backtest_progress.html", {"run": run})
