"""The API keys page (``/trading/keys/``): the user's exchange accounts, a form to add one, and htmx actions
(test the connection, enable/disable, delete) that swap the row or the list. Keys are never rendered back:
the secret inputs are password fields that do not echo, and rows show the masked hint only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from accounts import selectors, services
from accounts.models import ExchangeAccount
from trading.exchange_accounts.connection import ConnectionResult, exchange_account_test, withdrawals_warning

OTHER = "other"
EXCHANGE_CHOICES = [
    (ExchangeAccount.PAPER, gettext_lazy("Paper (simulated money)")),
    ("binance", "Binance"),
    ("okx", "OKX"),
    (OTHER, gettext_lazy("Another exchange (ccxt id)")),
]


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _secret_input(autocomplete: str) -> forms.PasswordInput:
    # render_value=False: a form shown again after an error never puts a key back into the page.
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": autocomplete, "spellcheck": "false"})


class ExchangeAccountForm(forms.Form):
    """The page's input shapes; ``accounts.services.exchange_account_create`` does the checking, so the page
    and the API say the same things."""

    exchange = forms.ChoiceField(
        label=gettext_lazy("Exchange"), choices=EXCHANGE_CHOICES, initial=ExchangeAccount.PAPER
    )
    other_exchange = forms.CharField(
        label=gettext_lazy("ccxt exchange id"),
        required=False,
        max_length=32,
        help_text=gettext_lazy("The id ccxt uses, in lower case: kraken, bybit, kucoin…"),
    )
    label = forms.CharField(
        label=gettext_lazy("Label"), required=False, help_text=gettext_lazy("For example: Binance main.")
    )
    market_type = forms.ChoiceField(
        label=gettext_lazy("Market"), choices=ExchangeAccount.MarketType.choices, initial="spot", required=False
    )
    testnet = forms.BooleanField(
        label=gettext_lazy("Testnet"),
        required=False,
        help_text=gettext_lazy("The exchange's test network, with test funds and test keys."),
    )
    # strip=False: accounts.services.clean_credential decides what is dropped (ordinary spaces at the ends only).
    api_key = forms.CharField(label=gettext_lazy("API key"), required=False, strip=False, widget=_secret_input("off"))
    secret = forms.CharField(
        label=gettext_lazy("API secret"), required=False, strip=False, widget=_secret_input("new-password")
    )
    passphrase = forms.CharField(
        label=gettext_lazy("Passphrase"), required=False, strip=False, widget=_secret_input("new-password")
    )
    paper_balance = forms.DecimalField(
        label=gettext_lazy("Starting balance (USDT)"),
        required=False,
        max_digits=20,
        decimal_places=2,
        initial=services.PAPER_BALANCE_DEFAULT,
    )

    @property
    def chosen_exchange(self) -> str:
        """The exchange picked in the select (drives which fields the page shows)."""
        value = self.data.get("exchange") if self.is_bound else self.initial.get("exchange")
        return value if value in dict(EXCHANGE_CHOICES) else ExchangeAccount.PAPER

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        exchange = data["exchange"]
        arguments: dict[str, Any] = {
            "exchange": data["other_exchange"] if exchange == OTHER else exchange,
            "label": data["label"],
            "market_type": data["market_type"],
            "testnet": data["testnet"],
            "api_key": data["api_key"],
            "secret": data["secret"],
            "passphrase": data["passphrase"],
        }
        if exchange == ExchangeAccount.PAPER:
            arguments["paper_balance"] = data["paper_balance"]
        return arguments

    def apply_errors(self, exc: ValidationError) -> None:
        for name, errors in exc.message_dict.items():
            if name == "exchange" and self.cleaned_data.get("exchange") == OTHER:
                name = "other_exchange"
            self.add_error(name if name in self.fields else None, errors)


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "accounts": list(selectors.exchange_account_list(user=request.user)),
        "withdrawals_warning": withdrawals_warning(),
        **extra,
    }


def _page(request: HttpRequest, *, form: ExchangeAccountForm | None = None, status: int = 200) -> HttpResponse:
    context = _context(
        request,
        form=form or ExchangeAccountForm(),
        two_factor_enabled=request.user.authenticator_set.filter(type="totp").exists(),
    )
    return render(request, "trading/exchange_accounts.html", context, status=status)


def _panel(request: HttpRequest, *, form: ExchangeAccountForm, status: int = 200, **extra: Any) -> HttpResponse:
    context = _context(request, form=form, **extra)
    return render(request, "trading/partials/exchange_account_panel.html", context, status=status)


def _list(request: HttpRequest, *, status: int = 200, delete_error: str = "") -> HttpResponse:
    context = _context(request, delete_error=delete_error)
    return render(request, "trading/partials/exchange_account_list.html", context, status=status)


def _row(request: HttpRequest, account: ExchangeAccount, result: ConnectionResult | None = None) -> HttpResponse:
    warnings = [w for w in result.warnings if w != withdrawals_warning()] if result else []
    context = {"account": account, "result": result, "warnings": warnings, "withdrawals_warning": withdrawals_warning()}
    return render(request, "trading/partials/exchange_account_row.html", context)


@never_cache
@login_required
@require_GET
def exchange_accounts(request: HtmxHttpRequest) -> HttpResponse:
    if request.htmx and request.GET.get("partial") == "fields":
        form = ExchangeAccountForm(initial={"exchange": request.GET.get("exchange", ExchangeAccount.PAPER)})
        return render(request, "trading/partials/exchange_account_fields.html", {"form": form})
    return _page(request)


@never_cache
@login_required
@require_POST
def exchange_account_create(request: HtmxHttpRequest) -> HttpResponse:
    form = ExchangeAccountForm(request.POST)
    if form.is_valid():
        try:
            account = services.exchange_account_create(user=request.user, **form.service_arguments())
        except ValidationError as exc:
            form.apply_errors(exc)
        else:
            if request.htmx:
                return _panel(request, form=ExchangeAccountForm(), created=account)
            messages.success(request, _("Account “%(label)s” added: test its connection.") % {"label": account.label})
            return redirect("trading:exchange-accounts")
    if request.htmx:
        return _panel(request, form=form, status=400)
    return _page(request, form=form, status=400)


@login_required
@require_POST
def exchange_account_toggle(request: HtmxHttpRequest, account_id: int) -> HttpResponse:
    account = selectors.exchange_account_get_for_user(user=request.user, account_id=account_id)
    wanted = request.POST.get("enabled")
    enabled = wanted == "1" if wanted in ("0", "1") else not account.enabled
    account = services.exchange_account_set_enabled(account=account, enabled=enabled)
    if request.htmx:
        return _row(request, account)
    return redirect("trading:exchange-accounts")


@never_cache
@login_required
@require_POST
def exchange_account_test_view(request: HtmxHttpRequest, account_id: int) -> HttpResponse:
    account = selectors.exchange_account_get_for_user(user=request.user, account_id=account_id)
    result = exchange_account_test(account=account)
    if request.htmx:
        return _row(request, account, result)
    messages.add_message(request, messages.SUCCESS if result.ok else messages.ERROR, result.message)
    for warning in result.warnings:
        messages.warning(request, warning)
    return redirect("trading:exchange-accounts")


@login_required
@require_POST
def exchange_account_delete(request: HtmxHttpRequest, account_id: int) -> HttpResponse:
    account = selectors.exchange_account_get_for_user(user=request.user, account_id=account_id)
    label = account.label
    try:
        services.exchange_account_delete(account=account)
    except ValidationError as exc:
        if request.htmx:
            return _list(request, status=400, delete_error=" ".join(exc.messages))
        messages.error(request, " ".join(exc.messages))
        return redirect("trading:exchange-accounts")
    if request.htmx:
        return _list(request)
    messages.success(request, _("Account “%(label)s” deleted.") % {"label": label})
    return redirect("trading:exchange-accounts")
