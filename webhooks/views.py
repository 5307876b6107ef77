"""The Webhooks pages (``/webhooks/``): the user's TradingView endpoints (create, rotate, revoke, pause,
reveal the secret after re-entering the password), a test tool that sends a sample alert through the real
receiver, the activity log and a setup guide. Each htmx action answers with the fragment it changed.

A secret reaches a page only in the answer to a POST (create, rotate, reveal), once, with ``no-store``;
no GET ever renders it.

Why this file is long: the Webhooks page is one screen with many small htmx actions (create, rotate, reveal,
pause, revoke, test, log, guide) sharing one context builder."""

from __future__ import annotations

import json
import secrets as pysecrets
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from accounts.models import ExchangeAccount
from trading import selectors as trading_selectors
from trading.models import Bot
from webhooks import selectors, services
from webhooks.models import WebhookEndpoint, WebhookEvent

EVENTS_PER_PAGE = 50
RECENT_EVENTS = 10
REVEAL_ATTEMPTS = 5  # wrong passwords per user…
REVEAL_WINDOW = 600  # …in this many seconds
SECRET_PLACEHOLDER = "YOUR_SECRET"  # noqa: S105 - the placeholder the trader replaces
WORKING = (WebhookEvent.Status.PENDING, WebhookEvent.Status.PROCESSING)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


# --- forms -------------------------------------------------------------------------------------------------


class EndpointForm(forms.Form):
    """The page's input shapes; ``services.endpoint_create`` does the checking, so the page and the API say
    the same things."""

    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=100,
        required=False,
        help_text=gettext_lazy("Empty: TradingView alerts."),
    )
    exchange_account = forms.ModelChoiceField(
        label=gettext_lazy("Exchange account"), queryset=ExchangeAccount.objects.none(), empty_label=None
    )
    bot = forms.ModelChoiceField(
        label=gettext_lazy("Bot (optional)"),
        queryset=Bot.objects.none(),
        required=False,
        empty_label=gettext_lazy("No bot: the risk profile's settings apply"),
        help_text=gettext_lazy("Its risk settings apply to the alerts, and its positions are the ones they trade."),
    )
    allowed_symbols = forms.CharField(
        label=gettext_lazy("Allowed symbols"),
        required=False,
        max_length=500,
        help_text=gettext_lazy("Comma-separated, e.g. BTCUSDT, ETH/USDT. Empty: any market of the account."),
    )
    max_alerts_per_minute = forms.IntegerField(
        label=gettext_lazy("Maximum alerts per minute"), min_value=1, max_value=600, initial=30
    )
    max_age_seconds = forms.IntegerField(
        label=gettext_lazy("Maximum alert age (s)"),
        min_value=5,
        max_value=3600,
        initial=60,
        help_text=gettext_lazy("Alerts whose 'time' is older are refused."),
    )
    ip_allowlist = forms.BooleanField(
        label=gettext_lazy("Only TradingView's addresses"),
        required=False,
        help_text=gettext_lazy("Accept requests only from TradingView's four published servers."),
    )
    live = forms.BooleanField(
        label=gettext_lazy("Live trading: alerts place real orders"),
        required=False,
        help_text=gettext_lazy(
            "Real money: every accepted alert places a real order on the exchange, within your risk limits."
        ),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        accounts = trading_selectors.exchange_accounts_enabled(user=user)
        self.fields["exchange_account"].queryset = accounts
        chosen = (self.data if self.is_bound else self.initial).get("exchange_account")
        self.account = accounts.filter(pk=chosen).first() if str(chosen or "").isdigit() else accounts.first()
        bots = trading_selectors.bot_list(user=user)
        self.fields["bot"].queryset = bots.filter(exchange_account=self.account) if self.account else bots.none()
        if self.account is not None and not self.is_bound:
            self.initial["exchange_account"] = self.account.pk

    @property
    def live_possible(self) -> bool:
        return self.account is not None and not self.account.is_paper


class TestAlertForm(forms.Form):
    action = forms.ChoiceField(
        label=gettext_lazy("Action"),
        choices=[
            ("buy", gettext_lazy("Buy (go long)")),
            ("sell", gettext_lazy("Sell (go short, or close a long on spot)")),
            ("close", gettext_lazy("Close the position")),
        ],
    )
    symbol = forms.CharField(label=gettext_lazy("Symbol"), max_length=32, initial="BTCUSDT")
    size_pct = forms.DecimalField(
        label=gettext_lazy("Size (percent of the balance, optional)"),
        required=False,
        min_value=Decimal("0.01"),
        max_value=Decimal(100),
        decimal_places=2,
    )
    confirm_live = forms.BooleanField(label=gettext_lazy("I understand this places a real order"), required=False)


class EventFilterForm(forms.Form):
    """The activity log's filters, read from the query string (``outcome``, ``symbol``, ``from``, ``to``,
    ``endpoint``): times in the user's time zone."""

    outcome = forms.ChoiceField(
        label=gettext_lazy("Outcome"),
        required=False,
        choices=[("", gettext_lazy("All")), *WebhookEvent.Outcome.choices],
    )
    symbol = forms.CharField(label=gettext_lazy("Symbol"), required=False, max_length=32)
    endpoint = forms.TypedChoiceField(label=gettext_lazy("Endpoint"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        when = {"type": "datetime-local"}
        self.fields["from"] = forms.DateTimeField(
            label=gettext_lazy("From"), required=False, widget=forms.DateTimeInput(attrs=when)
        )
        self.fields["to"] = forms.DateTimeField(
            label=gettext_lazy("To"), required=False, widget=forms.DateTimeInput(attrs=when)
        )
        endpoints = selectors.endpoint_list(user=user).values_list("pk", "name")
        self.fields["endpoint"].choices = [("", _("All")), *endpoints]

    def filters(self) -> dict[str, Any]:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {
            "outcome": data["outcome"] or None,
            "symbol": data["symbol"] or None,
            "since": data["from"],
            "until": data["to"],
            "endpoint_id": data["endpoint"],
        }


# --- helpers -----------------------------------------------------------------------------------------------


def _decorate(request: HttpRequest, endpoint: WebhookEndpoint, **shown: Any) -> WebhookEndpoint:
    """What the endpoint card shows besides the model: the full URL, the masked secret, the alerts received
    (``alert_count``, ``last_event``) and, once, a secret (``shown_secret``) with why it is shown
    (``shown_kind``: created, rotated, revealed)."""
    endpoint.url = request.build_absolute_uri(endpoint.path)
    endpoint.masked = services.masked_secret(endpoint)
    if not hasattr(endpoint, "last_event"):
        selectors.endpoint_activity(endpoint)
    for name, value in shown.items():
        setattr(endpoint, name, value)
    return endpoint


def _endpoints(request: HttpRequest, focus: WebhookEndpoint | None = None) -> list[WebhookEndpoint]:
    rows = []
    for endpoint in selectors.endpoints_with_activity(user=request.user):
        if focus is not None and endpoint.pk == focus.pk:
            focus.alert_count, focus.last_event = endpoint.alert_count, endpoint.last_event
            endpoint = focus
        rows.append(_decorate(request, endpoint))
    return rows


def _recent(request: HttpRequest) -> list[WebhookEvent]:
    return list(selectors.events_for_user(user=request.user)[:RECENT_EVENTS])


def _page(request: HttpRequest, *, form: EndpointForm | None = None, focus: WebhookEndpoint | None = None,
          status: int = 200) -> HttpResponse:  # fmt: skip
    """The whole Webhooks page (without htmx, and for the actions' no-JavaScript fallbacks)."""
    context = {
        "endpoints": _endpoints(request, focus),
        "form": form or EndpointForm(user=request.user),
        "recent_events": _recent(request),
    }
    return render(request, "webhooks/webhooks.html", context, status=status)


def _card(request: HttpRequest, endpoint: WebhookEndpoint, *, error: str = "", status: int = 200) -> HttpResponse:
    if not request.htmx:
        if error:
            messages.error(request, error)
        return _page(request, focus=endpoint, status=status)
    context = {"endpoint": _decorate(request, endpoint), "error": error}
    return render(request, "webhooks/partials/endpoint.html", context, status=status)


def _errors(form: forms.Form) -> str:
    return " ".join(str(message) for found in form.errors.values() for message in found)


def _apply_errors(form: forms.Form, exc: ValidationError) -> None:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    for field, found in errors.items():
        form.add_error(field if field in form.fields else None, found)


# --- the page and the endpoints ----------------------------------------------------------------------------


@never_cache
@login_required
@require_GET
def webhooks_page(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@require_GET
def endpoint_form_fields(request: HttpRequest) -> HttpResponse:
    """The form's account-dependent fields (the account's bots, the live switch) for the chosen account."""
    form = EndpointForm(user=request.user, initial={"exchange_account": request.GET.get("exchange_account")})
    return render(request, "webhooks/partials/endpoint_account_fields.html", {"form": form})


@never_cache
@login_required
@require_POST
def endpoint_new(request: HttpRequest) -> HttpResponse:
    """Create an endpoint; the answer shows its secret, once."""
    form = EndpointForm(request.POST, user=request.user)
    created = None
    if form.is_valid():
        try:
            created = services.endpoint_create(user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _apply_errors(form, exc)
    if created is None:
        if not request.htmx:
            return _page(request, form=form, status=400)
        context = {"endpoints": _endpoints(request), "form": form}
        return render(request, "webhooks/partials/endpoints_panel.html", context, status=400)
    endpoint = _decorate(request, created.endpoint, shown_secret=created.secret, shown_kind="created")
    if not request.htmx:
        return _page(request, focus=endpoint)
    context = {"endpoints": _endpoints(request, endpoint), "form": EndpointForm(user=request.user)}
    return render(request, "webhooks/partials/endpoints_panel.html", context)


@never_cache
@login_required
@require_POST
def endpoint_rotate(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """A new secret, shown once; the old one stops working at once."""
    endpoint = selectors.endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
    try:
        secret = services.endpoint_rotate(endpoint=endpoint)
    except ValidationError as exc:
        return _card(request, endpoint, error=" ".join(exc.messages), status=400)
    return _card(request, _decorate(request, endpoint, shown_secret=secret, shown_kind="rotated"))


@login_required
@require_POST
def endpoint_revoke(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = selectors.endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
    endpoint = services.endpoint_revoke(endpoint=endpoint)
    if not request.htmx:
        messages.success(request, _("The endpoint %(name)s is revoked.") % {"name": endpoint.name})
        return redirect("webhooks:page")
    return _card(request, endpoint)


@login_required
@require_POST
def endpoint_active(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """Pause (``active`` off) or resume an endpoint; a paused endpoint answers like an unknown one."""
    endpoint = selectors.endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
    try:
        endpoint = services.endpoint_set_active(endpoint=endpoint, active=request.POST.get("active") == "on")
    except ValidationError as exc:
        return _card(request, endpoint, error=" ".join(exc.messages), status=400)
    if not request.htmx:
        return redirect("webhooks:page")
    return _card(request, endpoint)


def _reveal_refused(request: HttpRequest, endpoint: WebhookEndpoint) -> tuple[str, int]:
    """Why the secret may not be shown ("" if it may), with the status. Wrong passwords are counted per user
    in the cache: after ``REVEAL_ATTEMPTS`` in ``REVEAL_WINDOW`` seconds, even the right one waits."""
    if endpoint.revoked_at is not None:
        return _("This endpoint is revoked: its secret no longer works."), 400
    key = f"webhooks:reveal-failures:{request.user.pk}"
    if (cache.get(key) or 0) >= REVEAL_ATTEMPTS:
        # htmx swaps only 2xx, 400 and 422 answers (base.html): a 429 would not show its message there.
        return _("Too many wrong passwords. Try again in 10 minutes."), 400 if request.htmx else 429
    if not request.user.has_usable_password():
        return _("Your account has no password: set one in your account settings first."), 400
    if not request.user.check_password(request.POST.get("password", "")):
        cache.add(key, 0, REVEAL_WINDOW)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, REVEAL_WINDOW)
        return _("The password is wrong."), 400
    return "", 200


@never_cache
@login_required
@require_POST
def endpoint_reveal(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """Show the secret after re-entering the password (a POST: a GET never renders it). ``view=guide``
    answers with the setup guide's message, the secret filled in."""
    endpoint = selectors.endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
    error, status = _reveal_refused(request, endpoint)
    secret = "" if error else services.endpoint_secret(endpoint)
    if request.POST.get("view") == "guide":
        if not request.htmx:
            return _guide(request, endpoint, secret=secret, error=error, status=status)
        context = {"endpoint": endpoint, "message": guide_message(secret or SECRET_PLACEHOLDER), "error": error}
        context["revealed"] = bool(secret)
        return render(request, "webhooks/partials/guide_message.html", context, status=status)
    if error:
        return _card(request, _decorate(request, endpoint, reveal_error=True), error=error, status=status)
    return _card(request, _decorate(request, endpoint, shown_secret=secret, shown_kind="revealed"))


# --- the test tool -------------------------------------------------------------------------------------------


def sample_alert(secret: str, *, action: str, symbol: str, size_pct: Decimal | None = None) -> dict[str, Any]:
    """A sample in Trendy's alert format, as TradingView would send it with its placeholders filled. The
    ``order_id`` is unique, so two tests are two alerts, not a duplicate."""
    body: dict[str, Any] = {
        "secret": secret,
        "action": action,
        "symbol": symbol,
        "order_id": f"trendy-test-{pysecrets.token_hex(6)}",
        "time": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if size_pct is not None:
        body["size_pct"] = str(size_pct)
    return body


@login_required
@require_POST
def endpoint_test(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """Send a sample alert through the real receiver (``alert_receive``, marked as a test) with the
    endpoint's secret, filled in here and never rendered; answer with what the receiver said and the event
    (its row polls until the alert is traded). With htmx, the answer also swaps in the page's recent activity
    and the endpoint card's alert count and last alert (out of band): the page is current without a reload."""
    endpoint = selectors.endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
    form = TestAlertForm(request.POST)
    error = ""
    if endpoint.revoked_at is not None:
        error = _("This endpoint is revoked.")
    elif not form.is_valid():
        error = _errors(form)
    elif endpoint.live and not form.cleaned_data["confirm_live"]:
        error = _("This endpoint trades live: tick “I understand this places a real order” to send a test alert.")
    context: dict[str, Any] = {"endpoint": endpoint, "error": error}
    if not error:
        data = form.cleaned_data
        body = sample_alert(
            services.endpoint_secret(endpoint), action=data["action"], symbol=data["symbol"], size_pct=data["size_pct"]
        )
        answer = services.alert_receive(
            token=endpoint.token, body=json.dumps(body).encode(), remote_addr="127.0.0.1", is_test=True
        )
        event = selectors.events_for_user(user=request.user).filter(pk=answer.event_id).first()
        context.update(answer=answer, event=event, events=[event] if event else [], payload=answer.payload)
        if request.htmx:
            context.update(recent_events=_recent(request), card=selectors.endpoint_activity(endpoint))
    if not request.htmx:
        if error:
            messages.error(request, error)
            return redirect("webhooks:page")
        return render(request, "webhooks/test_result.html", context)
    return render(request, "webhooks/partials/test_result.html", context, status=400 if error else 200)


# --- the activity log --------------------------------------------------------------------------------------


@login_required
@require_GET
def event_list(request: HttpRequest) -> HttpResponse:
    form = EventFilterForm(request.GET, user=request.user)
    events = selectors.events_for_user(user=request.user, **form.filters())
    page = Paginator(events, EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "events": page.object_list}
    if request.htmx and not request.htmx.boosted:
        return render(request, "webhooks/partials/events_table.html", context)
    return render(request, "webhooks/events.html", context)


@login_required
@require_GET
def event_row(request: HttpRequest, event_id: int) -> HttpResponse:
    """One event's row, which polls itself while the alert is being traded (``in=test``: the test tool's copy
    of the row, whose id differs from the recent activity's)."""
    event = selectors.event_get_for_user(user=request.user, event_id=event_id)
    prefix = "test-event-" if request.GET.get("in") == "test" else "event-"
    return render(request, "webhooks/partials/event_row.html", {"event": event, "row_prefix": prefix})


# --- the setup guide -----------------------------------------------------------------------------------------

# The alert message's fields: (name, what TradingView fills in, what it means). TradingView fills the
# placeholders when the alert fires (its "Variables" help page).
MESSAGE_FIELDS = [
    (
        "secret",
        "",
        gettext_lazy("The endpoint's secret: it proves the alert comes from you. Replace %(placeholder)s with it."),
    ),
    ("action", "{{strategy.order.action}}", gettext_lazy("The order the strategy just filled: %(buy)s or %(sell)s.")),
    ("symbol", "{{ticker}}", gettext_lazy("The chart's market, such as %(spot)s, or %(perpetual)s for a perpetual.")),
    ("price", "{{close}}", gettext_lazy("The bar's close price.")),
    (
        "position",
        "{{strategy.market_position}}",
        gettext_lazy(
            "The position after the order: %(long)s, %(short)s or %(flat)s. Trendy follows it, so a reversal is one "
            "alert."
        ),
    ),
    (
        "size",
        "{{strategy.order.contracts}}",
        gettext_lazy("The order's size in the base currency (capped by your limits)."),
    ),
    (
        "order_id",
        "{{strategy.order.id}}",
        gettext_lazy(
            "The order's name in the strategy: with the time, it tells repeats apart, so an alert sent twice trades "
            "once."
        ),
    ),
    (
        "time",
        "{{timenow}}",
        gettext_lazy("When the alert fired (UTC): alerts older than the endpoint's maximum age are refused."),
    ),
]

# Fields an alert may add: requests, which the trader's risk limits cap.
OPTIONAL_FIELDS = [
    ("size_pct", gettext_lazy("The position's size in percent of the balance, instead of %(size)s.")),
    ("leverage", gettext_lazy("The leverage, a whole number such as 3.")),
    ("stop_loss_pct", gettext_lazy("The stop loss, in percent from the entry price.")),
    ("take_profit_pct", gettext_lazy("The take profit, in percent from the entry price.")),
    ("bot", gettext_lazy("A bot's number: its risk settings apply, and its positions are the ones the alert trades.")),
]


def _code(text: str) -> str:
    return format_html("<code>{}</code>", text)


def _explained(template: Any) -> str:
    """A field's meaning with the JSON values it names as code."""
    values = {
        "placeholder": SECRET_PLACEHOLDER,
        "buy": "buy",
        "sell": "sell",
        "spot": "BTCUSDT",
        "perpetual": "BTCUSDT.P",
        "long": "long",
        "short": "short",
        "flat": "flat",
        "size": "size",
    }
    return mark_safe(conditional_escape(str(template)) % {k: _code(v) for k, v in values.items()})  # noqa: S308  # nosec B308, B703  # template escaped, values format_html


def guide_message(secret: str) -> str:
    """The Message box's JSON for a strategy alert in Trendy's format."""
    message = {
        "secret": secret,
        "action": "{{strategy.order.action}}",
        "symbol": "{{ticker}}",
        "price": "{{close}}",
        "position": "{{strategy.market_position}}",
        "size": "{{strategy.order.contracts}}",
        "order_id": "{{strategy.order.id}}",
        "time": "{{timenow}}",
    }
    return json.dumps(message, indent=2)


def _guide(request: HttpRequest, endpoint: WebhookEndpoint, *, secret: str = "", error: str = "",
           status: int = 200) -> HttpResponse:  # fmt: skip
    url = request.build_absolute_uri(endpoint.path)
    parts = urlsplit(url)
    pine_url = None
    if endpoint.bot is not None:
        from django.urls import reverse

        from strategies.builtin import REGISTRY

        if endpoint.bot.strategy in REGISTRY:  # the export of a built-in (a Pine bot's script is the trader's own)
            pine_url = reverse("strategies:pine", args=[endpoint.bot.strategy])
            if endpoint.bot.params:
                pine_url += "?" + urlencode(endpoint.bot.params)
    context = {
        "endpoint": _decorate(request, endpoint),
        "message": guide_message(secret or SECRET_PLACEHOLDER),
        "revealed": bool(secret),
        "error": error,
        "fields": [(name, placeholder, _explained(meaning)) for name, placeholder, meaning in MESSAGE_FIELDS],
        "optional_fields": [(name, _explained(meaning)) for name, meaning in OPTIONAL_FIELDS],
        "pine_url": pine_url,
        "endpoint_name": format_html('<span translate="no">{}</span>', endpoint.name),
        "bot_name": format_html('<span translate="no">{}</span>', endpoint.bot.name) if endpoint.bot else "",
        "secret_placeholder": _code(SECRET_PLACEHOLDER),
        "pine_secret": _code("YOUR_WEBHOOK_SECRET"),
        "pine_message": _code("alertMessage"),
        "alert_placeholder": _code("{{strategy.order.alert_message}}"),
        "port_ok": parts.port in (None, 80, 443),
        "https": parts.scheme == "https",
    }
    return render(request, "webhooks/guide.html", context, status=status)


@never_cache
@login_required
@require_GET
def endpoint_guide(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = selectors.endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
    return _guide(request, endpoint)
