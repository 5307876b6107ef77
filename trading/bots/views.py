"""The bots pages (create, start, pause, stop) and the auto-trading switch in the header."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from market_data.timeframes import TIMEFRAMES
from strategies.builtin import REGISTRY, get_strategy
from strategies.forms import param_field
from strategies.interface import Strategy, StrategyError
from strategies.labels import param_label, strategy_name, strategy_names
from strategies.pine_services import granted_names, strategy_usable, version_name, versions_for_slugs
from strategies.pine_services import strategy_choices as strategy_choices_for
from trading import selectors
from trading.bots import services as bot_services
from trading.exchanges.errors import ExchangeError
from trading.execution.views import attempt
from trading.models import Bot


def strategy_choices() -> list[tuple[str, str]]:
    """The strategies by name in the reader's language (a callable: evaluated per form, not at import)."""
    return [(slug, strategy_name(slug)) for slug in REGISTRY]


BOT_ACTIONS = {"start": Bot.Status.RUNNING, "pause": Bot.Status.PAUSED, "stop": Bot.Status.STOPPED}


BOT_FIELDS = [
    "name",
    "exchange_account",
    "symbol",
    "timeframe",
    "leverage",
    "position_size_pct",
    "stop_loss_pct",
    "take_profit_pct",
    "trailing_stop_pct",
    "trailing_activation_pct",
    "pyramiding",
    "max_drawdown_pct",
    "daily_loss_limit_pct",
    "direction",
]


class BotForm(forms.ModelForm):
    """A bot's settings and its strategy's parameters (``param_<name>``, the defaults pre-filled)."""

    strategy = forms.ChoiceField(label=gettext_lazy("Strategy"), choices=strategy_choices)
    timeframe = forms.ChoiceField(label=gettext_lazy("Timeframe"), choices=[(tf, tf) for tf in TIMEFRAMES])
    start = forms.BooleanField(label=gettext_lazy("Start right away"), required=False)

    class Meta:
        model = Bot
        fields = BOT_FIELDS

    def __init__(self, *args: Any, user: Any, strategy: Strategy, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.strategy_obj = strategy
        self.fields["strategy"].choices = strategy_choices_for(user=user, current=strategy.slug)
        self.fields["strategy"].initial = strategy.slug
        self.fields["name"].required = False
        self.fields["name"].help_text = _("Empty: strategy, market and timeframe.")
        self.fields["exchange_account"].queryset = selectors.exchange_accounts_enabled(user=user)
        self.fields["exchange_account"].empty_label = None
        for name in ("stop_loss_pct", "take_profit_pct", "trailing_stop_pct", "daily_loss_limit_pct"):
            self.fields[name].help_text = _("Leave empty for none.")
        self.fields["trailing_stop_pct"].help_text = _(
            "Leave empty for none. The stop follows the best price after each closed candle, this far behind it "
            "(a percentage of the entry price)."
        )
        self.fields["trailing_activation_pct"].required = False
        self.fields["pyramiding"].required = False
        self.fields["trailing_activation_pct"].help_text = _("Empty or 0: the trail starts at the entry.")
        for spec in strategy.params:
            self.fields[f"param_{spec.name}"] = param_field(spec, param_label(strategy, spec.name))

    def clean_trailing_activation_pct(self) -> Any:
        return self.cleaned_data.get("trailing_activation_pct") or Decimal(0)

    def clean_pyramiding(self) -> Any:
        return self.cleaned_data.get("pyramiding") or 1

    def param_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith("param_")]

    def market_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("name", "exchange_account", "symbol", "timeframe", "direction")]

    def risk_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in BOT_FIELDS[4:-1]]

    def settings(self) -> bot_services.BotSettings:
        data = self.cleaned_data
        return bot_services.BotSettings(
            strategy=self.strategy_obj.slug,
            params={k.removeprefix("param_"): v for k, v in data.items() if k.startswith("param_")},
            **{name: data[name] for name in BOT_FIELDS if name != "exchange_account"},
        )


def _strategy_or_404(slug: str, user: Any) -> Strategy:
    if not strategy_usable(user=user, slug=slug):  # a built-in or the user's own Pine script, never another's
        raise Http404(_("No such strategy."))
    try:
        return get_strategy(slug)
    except StrategyError:
        raise Http404(_("No such strategy.")) from None


def _initial(user: Any) -> dict[str, Any]:
    profile = user.risk_profile
    return {
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "leverage": 1,
        "position_size_pct": profile.position_size_pct,
        "stop_loss_pct": profile.stop_loss_pct,
        "take_profit_pct": profile.take_profit_pct,
        "max_drawdown_pct": profile.max_drawdown_pct,
    }


def _apply_errors(form: forms.Form, exc: ValidationError) -> None:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    for field, found in errors.items():
        name = f"param_{field.removeprefix('params.')}" if field.startswith("params.") else field
        form.add_error(name if name in form.fields else None, found)


def _bot_form(request: HttpRequest, data: Any = None) -> BotForm:
    slug = (data or request.GET).get("strategy") or "ema_crossover"
    strategy = _strategy_or_404(slug, request.user)
    return BotForm(data, user=request.user, strategy=strategy, initial=None if data else _initial(request.user))


@login_required
@require_GET
def bot_list(request: HttpRequest) -> HttpResponse:
    bots = selectors.bot_list(user=request.user)
    context = {"bots": bots, "form": _bot_form(request), "names": _names(bots, request.user)}
    return render(request, "trading/bot_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def bot_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = _bot_form(request, request.POST)
        if form.is_valid():
            try:
                bot = bot_services.bot_create(
                    user=request.user,
                    exchange_account=form.cleaned_data["exchange_account"],
                    settings_=form.settings(),
                    start=form.cleaned_data["start"],
                )
            except ValidationError as exc:
                _apply_errors(form, exc)
            except ExchangeError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("The bot %(name)s is created.") % {"name": bot.name})
                return redirect("trading:bots")
        status = 400
    else:
        form = _bot_form(request)
        status = 200
    if request.htmx and request.GET.get("partial") == "params":
        return render(request, "trading/partials/bot_param_fields.html", {"form": form})
    return render(request, "trading/bot_form.html", {"form": form}, status=status)


def _names(bots: Any, user: Any) -> dict[str, str]:
    """Strategy names by slug, the user's Pine versions included; a Pine bot whose script has a newer version
    gets ``newer`` (that version), for the row's "move" button."""
    names = strategy_names()
    others = {bot.strategy for bot in bots if bot.strategy not in names}
    versions = versions_for_slugs(user=user, slugs=others)
    names.update(granted_names(user=user, slugs=others - set(versions)))  # a marketplace strategy's name
    for bot in bots:
        if bot.strategy not in versions:
            continue
        version, latest = versions[bot.strategy]
        names[bot.strategy] = version_name(version)
        if latest.number > version.number:
            bot.newer = latest
    return names


@login_required
@require_POST
def bot_action(request: HttpRequest, bot_id: int, action: str) -> HttpResponse:
    bot = selectors.bot_get_for_user(user=request.user, bot_id=bot_id)
    if action not in BOT_ACTIONS:
        raise Http404
    error = attempt(lambda: bot_services.bot_set_status(bot=bot, status=BOT_ACTIONS[action]))
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("trading:bots")
    return _row(request, bot_id, error)


def _row(request: HttpRequest, bot_id: int, error: str | None) -> HttpResponse:
    bot = selectors.bot_get_for_user(user=request.user, bot_id=bot_id)
    context = {"bot": bot, "error": error, "names": _names([bot], request.user)}
    return render(request, "trading/partials/bot_row.html", context, status=400 if error else 200)


@login_required
@require_POST
def bot_move(request: HttpRequest, bot_id: int) -> HttpResponse:
    """Move a Pine bot to another version of its script (the row's "move" button)."""
    bot = selectors.bot_get_for_user(user=request.user, bot_id=bot_id)
    slug = request.POST.get("strategy", "")
    error = attempt(lambda: bot_services.bot_move_version(user=request.user, bot=bot, strategy=slug))
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("trading:bots")
    return _row(request, bot_id, error)


def real_user(user: Any) -> Any:
    """The user model instance behind ``request.user`` (a lazy object): the service calls ``type(user)``."""
    return get_user_model().objects.get(pk=user.pk)


@login_required
@require_http_methods(["GET", "POST"])
def auto_trading(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        enabled = request.POST.get("enabled") == "on"
        bot_services.auto_trading_set(user=real_user(request.user), enabled=enabled)
        request.user.auto_trading = enabled
        if not request.htmx:
            messages.success(request, _("Auto-trading is on.") if enabled else _("Auto-trading is off."))
            target = request.POST.get("next", "")
            safe = url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure())
            return redirect(target if safe else "trading:bots")
    return render(request, "trading/partials/auto_trading_switch.html")
