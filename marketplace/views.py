"""The marketplace's pages: discover published listings (htmx filters, no page reload) and read one listing with
Trendy's own evidence — the public set and the out-of-sample backtest side by side for each market. A listing's
Pine source is never on these pages."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from market_data.exceptions import InvalidMarket
from market_data.labels import timeframe_label
from market_data.symbols import normalize_symbol
from market_data.timeframes import TIMEFRAME_MS
from market_data.views import points_zones, shift_points
from marketplace import copy_trading, creator_views, reviews, selectors, subscriptions, verification
from marketplace.models import Listing, Review, Subscription
from marketplace.providers import STRIPE, TEST, Stripe
from strategies import labels
from strategies.pine_views import report_context
from trading import selectors as trading_selectors

PER_PAGE = 20
SORT_CHOICES = [
    ("newest", gettext_lazy("Newest")),
    ("rating", gettext_lazy("Rating")),
    ("popularity", gettext_lazy("Popularity")),
    ("oos_return", gettext_lazy("Out-of-sample return")),
]


class FilterForm(forms.Form):
    q = forms.CharField(label=gettext_lazy("Search"), max_length=100, required=False)
    category = forms.ChoiceField(label=gettext_lazy("Category"), required=False)
    tier = forms.ChoiceField(label=gettext_lazy("Tier"), required=False)
    timeframe = forms.ChoiceField(label=gettext_lazy("Timeframe"), required=False)
    market = forms.CharField(label=gettext_lazy("Market"), max_length=40, required=False)
    price_max = forms.DecimalField(
        label=gettext_lazy("Price up to (USD)"), min_value=0, max_digits=8, decimal_places=2, required=False
    )
    min_trades = forms.IntegerField(label=gettext_lazy("At least this many trades"), min_value=0, required=False)
    max_drawdown = forms.DecimalField(
        label=gettext_lazy("Max drawdown at most (%)"), min_value=0, max_value=100, decimal_places=2, required=False
    )
    min_oos_return = forms.DecimalField(
        label=gettext_lazy("Out-of-sample return at least (%)"), min_value=-100, decimal_places=2, required=False
    )
    min_rating = forms.TypedChoiceField(
        label=gettext_lazy("Rating"),
        choices=[("", gettext_lazy("Any")), ("4", "★★★★+"), ("3", "★★★+"), ("2", "★★+")],
        coerce=Decimal,
        empty_value=None,
        required=False,
    )
    sort = forms.ChoiceField(label=gettext_lazy("Sort by"), choices=SORT_CHOICES, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        anything = [("", gettext_lazy("Any"))]
        self.fields["category"].choices = anything + list(Listing.Category.choices)
        self.fields["tier"].choices = anything + list(Listing.Tier.choices)
        self.fields["timeframe"].choices = anything + [(t, timeframe_label(t)) for t in TIMEFRAME_MS]

    def clean_market(self) -> str:
        value = self.cleaned_data.get("market") or ""
        if not value:
            return ""
        try:
            return normalize_symbol(value)
        except InvalidMarket as exc:
            raise forms.ValidationError(str(exc)) from None


@login_required
@require_GET
def listing_list(request: HttpRequest) -> HttpResponse:
    form = FilterForm(request.GET or None)
    values: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        values = {key: value for key, value in form.cleaned_data.items() if value not in (None, "")}
    listings = (
        selectors.listing_search(query=values.pop("q", ""), versions=False, **values)
        if not form.errors
        else Listing.objects.none()
    )
    page = Paginator(listings, PER_PAGE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "query": _query_without_page(request), "min_trades": verification.MIN_TRADES}
    template = "marketplace/partials/results.html" if request.htmx else "marketplace/list.html"
    return render(request, template, context, status=400 if form.errors else 200)


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _evidence(version: Any) -> list[dict[str, Any]]:
    """Per market, each shown metric of the public set beside the out-of-sample one, formatted."""
    rows = []
    for market in (version.result or {}).get("markets", []):
        public, unseen = market["public"], market.get("out_of_sample")
        metrics = [
            {
                "label": labels.metric_label(key),
                "public": labels.metric_value(key, public["metrics"].get(key)),
                "unseen": labels.metric_value(key, unseen["metrics"].get(key)) if unseen else "–",
            }
            for key in verification.SHOWN_METRICS
        ]
        rows.append({
            "symbol": market["symbol"], "metrics": metrics, "public": _period(public), "unseen": _period(unseen),
        })  # fmt: skip
    return rows


def _readable_source(listing: Listing, subscription: Any) -> str | None:
    """The script of the version a subscriber uses, when the creator lets subscribers read it and they have access;
    None for anyone else (the creator reads it on the script's own page)."""
    if not listing.source_to_subscribers or subscription is None:
        return None
    if not selectors.subscription_has_access(subscription):
        return None
    return subscription.version.script_version.source


def _charts(version: Any) -> list[dict[str, Any]]:
    """Per market, the equity of the public set and of the out-of-sample run, for the page's charts."""
    charts = []
    for market in (version.result or {}).get("markets", []):
        public = market["public"].get("equity", [])
        unseen = (market.get("out_of_sample") or {}).get("equity", [])
        charts.append({"public": shift_points(public), "unseen": shift_points(unseen), "zones": points_zones(public)})
    return charts


def _period(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    if not summary:
        return None
    return {"first": datetime.fromisoformat(summary["first"]), "last": datetime.fromisoformat(summary["last"])}


@login_required
@require_GET
def listing_detail(request: HttpRequest, listing_id: Any) -> HttpResponse:
    listing = selectors.listing_for(user=request.user, listing_id=listing_id)
    if listing is None:
        raise Http404
    versions = list(listing.versions.all())
    mine = listing.creator_id == request.user.pk
    # Others see the released version's evidence; the creator sees the newest, verified or not.
    current = (versions[0] if versions else None) if mine else selectors.released_of(listing)
    subscription = selectors.subscription_open(user=request.user, listing=listing)
    context = {
        "listing": listing,
        "versions": versions,
        "current": current,
        "evidence": _evidence(current) if current else [],
        "charts": _charts(current) if current and current.verification == "passed" else [],
        "min_trades": verification.MIN_TRADES,
        "mine": mine,
        "subscription": subscription,
        "access": subscription is not None and selectors.subscription_has_access(subscription),
        "creator_percent": creator_views.percent(),
        "source": _readable_source(listing, subscription),
        "reviews": list(selectors.reviews_of(listing=listing)[:50]),
        "my_review": Review.objects.filter(listing=listing, author=request.user).first(),
        "can_review": listing.creator_id != request.user.pk and reviews.may_review(user=request.user, listing=listing),
        "review_form": ReviewForm(),
    }
    if current is not None:  # Trendy's check of the script (its inputs, what it leaves out), never its text
        context.update(report_context(current.script_version.report))
    return render(request, "marketplace/detail.html", context)


@login_required
@require_POST
def listing_subscribe(request: HttpRequest, listing_id: Any) -> HttpResponse:
    """Take a listing: a free one at once, a paid one at its checkout. A refusal says why on the listing's page."""
    listing = selectors.listing_for(user=request.user, listing_id=listing_id)
    if listing is None:
        raise Http404
    mine = request.build_absolute_uri(reverse("marketplace:subscriptions"))
    back = request.build_absolute_uri(reverse("marketplace:detail", args=[listing.id]))
    try:
        _subscription, url = subscriptions.subscription_start(
            user=request.user, listing_id=listing.id, success_url=f"{mine}?paid=1", cancel_url=back
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("marketplace:detail", listing.id)
    if url:
        return redirect(url)
    messages.success(request, _("%(name)s is in your subscriptions.") % {"name": listing.name})
    return redirect("marketplace:subscriptions")


@login_required
@require_GET
def subscription_list(request: HttpRequest) -> HttpResponse:
    """The trader's subscriptions and purchases, with their receipts."""
    now = timezone.now()
    rows = [
        {
            "subscription": s,
            "access": selectors.subscription_has_access(s, now),
            "newest": selectors.released_of(s.listing),
        }
        for s in selectors.subscriptions_of(user=request.user)
    ]
    return render(request, "marketplace/subscriptions.html", {"rows": rows})


def _mine(request: HttpRequest, subscription_id: Any) -> None:
    """Another trader's subscription is as unknown as a missing one."""
    if not Subscription.objects.filter(id=subscription_id, user=request.user).exists():
        raise Http404


@login_required
@require_POST
def subscription_cancel(request: HttpRequest, subscription_id: Any) -> HttpResponse:
    _mine(request, subscription_id)
    try:
        subscription = subscriptions.subscription_cancel(user=request.user, subscription_id=subscription_id)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if subscription.status == subscription.Status.ENDED:
            messages.success(request, _("Ended."))
        else:
            messages.success(request, _("It will not renew; access lasts until it expires."))
    return redirect("marketplace:subscriptions")


@login_required
@require_POST
def subscription_version_move(request: HttpRequest, subscription_id: Any) -> HttpResponse:
    _mine(request, subscription_id)
    try:
        subscriptions.subscription_version_move(user=request.user, subscription_id=subscription_id)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("You now use the newest version."))
    return redirect("marketplace:subscriptions")


@login_required
@require_http_methods(["GET", "POST"])
def test_checkout(request: HttpRequest, subscription_id: Any) -> HttpResponse:
    """The test-mode provider's checkout page: it stands for Stripe's, and no money moves."""
    subscription = (
        Subscription.objects.select_related("listing")
        .filter(id=subscription_id, user=request.user, provider=TEST)
        .first()
    )
    if subscription is None:
        raise Http404
    if request.method == "POST":
        try:
            subscriptions.test_checkout_pay(user=request.user, subscription_id=subscription.id)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("marketplace:subscriptions")
        messages.success(request, _("Paid (test mode): %(name)s is yours.") % {"name": subscription.listing.name})
        return redirect("marketplace:subscriptions")
    return render(request, "marketplace/test_checkout.html", {"subscription": subscription})


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's events: applied once each, only when Stripe's signature over the body holds (five minutes' tolerance
    against replays); anything else is a 400 and changes nothing."""
    if settings.TRENDY_PAYMENTS != STRIPE:
        raise Http404
    try:
        event = Stripe.verify(request.body, request.headers.get("Stripe-Signature", ""))
    except ValueError:
        return HttpResponse("bad signature", status=400, content_type="text/plain")
    try:
        result = subscriptions.event_handle(provider_name=STRIPE, event=event)
    except ValidationError:
        return HttpResponse("not an event", status=400, content_type="text/plain")
    return HttpResponse(result, content_type="text/plain")


class CopyForm(forms.Form):
    exchange_account = forms.ModelChoiceField(label=gettext_lazy("Exchange account"), queryset=None, empty_label=None)
    symbol = forms.ChoiceField(label=gettext_lazy("Market"))
    start = forms.BooleanField(label=gettext_lazy("Start right away"), required=False, initial=True)
    live_confirmed = forms.BooleanField(
        label=gettext_lazy("I understand: on a real exchange account this bot places real orders with real money."),
        required=False,
    )

    def __init__(self, *args: Any, user: Any, markets: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        accounts = trading_selectors.exchange_accounts_enabled(user=user)
        self.fields["exchange_account"].queryset = accounts
        paper = next((account for account in accounts if account.is_paper), None)
        if paper is not None:  # paper by default
            self.fields["exchange_account"].initial = paper.pk
        self.fields["symbol"].choices = [(market, market) for market in markets]


@login_required
@require_http_methods(["GET", "POST"])
def subscription_run(request: HttpRequest, subscription_id: Any) -> HttpResponse:
    """Copy trading: a bot from a subscription, with the trader's own risk limits."""
    _mine(request, subscription_id)
    subscription = Subscription.objects.select_related("listing", "version").get(id=subscription_id)
    form = CopyForm(request.POST or None, user=request.user, markets=subscription.listing.markets)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            wanted = copy_trading.CopyRequest(
                exchange_account_id=data["exchange_account"].pk, symbol=data["symbol"], start=data["start"],
                live_confirmed=data["live_confirmed"],
            )  # fmt: skip
            try:
                bot = copy_trading.copy_bot_create(user=request.user, subscription_id=subscription.id, request=wanted)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("The bot %(name)s is created.") % {"name": bot.name})
                return redirect("trading:bots")
        status = 400
    context = {"subscription": subscription, "form": form, "access": selectors.subscription_has_access(subscription)}
    return render(request, "marketplace/run.html", context, status=status)


class ReviewForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=gettext_lazy("Stars"), choices=[(n, "★" * n) for n in range(5, 0, -1)], coerce=int
    )
    text = forms.CharField(
        label=gettext_lazy("Your review"), max_length=4_000, widget=forms.Textarea(attrs={"rows": 4})
    )


@login_required
@require_POST
def review_save(request: HttpRequest, listing_id: Any) -> HttpResponse:
    """Write or change one's review of a listing; a refusal says why on the listing's page."""
    listing = selectors.listing_for(user=request.user, listing_id=listing_id)
    if listing is None:
        raise Http404
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("marketplace:detail", listing.id)
    write = (
        reviews.review_update
        if Review.objects.filter(listing=listing, author=request.user).exists()
        else reviews.review_create
    )
    try:
        write(user=request.user, listing_id=listing.id, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Your review is saved."))
    return redirect(f"{reverse('marketplace:detail', args=[listing.id])}#reviews")


@login_required
@require_POST
def review_reply(request: HttpRequest, review_id: Any) -> HttpResponse:
    if not selectors.review_of_creator(creator=request.user, review_id=review_id):
        raise Http404
    try:
        review = reviews.review_reply(creator=request.user, review_id=review_id, text=request.POST.get("text", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        review = Review.objects.get(id=review_id)
    else:
        messages.success(request, _("Your reply is saved."))
    return redirect(f"{reverse('marketplace:detail', args=[review.listing_id])}#reviews")
