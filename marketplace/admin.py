"""Staff review listings here: approve (published) or reject with the reason the creator reads; unlist one that is
published, saying why. Every decision goes through ``marketplace.services``; the rows are otherwise read-only (what
a listing says is its creator's). Subscriptions, payments, the ledger and provider events are read-only too; staff
refund payments and record payouts, through ``marketplace.subscriptions``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from marketplace import reviews, services, subscriptions
from marketplace.models import (
    LedgerEntry,
    Listing,
    ListingVersion,
    Payment,
    Payout,
    ProviderEvent,
    Review,
    Subscription,
)
from trading_site.admin_filters import ReadOnlyAdmin


class ReasonForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason (its author reads it)"), max_length=2000, widget=forms.Textarea)


class ListingVersionInline(admin.TabularInline):
    model = ListingVersion
    fields = ["number", "script_version", "notes", "verification", "progress", "few_trades", "error", "verified_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False


def _apply(request: HttpRequest, listings: QuerySet[Listing], act: Any) -> int:
    done = 0
    for listing in listings:
        try:
            act(listing)
            done += 1
        except (ValidationError, PermissionDenied) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            messages.error(request, f"{listing}: {text}")
    return done


def _with_reason(modeladmin: Any, request: HttpRequest, listings: QuerySet[Listing], act: Any, title: str) -> Any:
    """Ask for the reason on a page of its own, then act on each listing with it."""
    form = ReasonForm(request.POST if "reason" in request.POST else None)
    if form.is_bound and form.is_valid():
        done = _apply(request, listings, lambda listing: act(listing, form.cleaned_data["reason"]))
        if done:
            messages.success(request, _("%(count)d done.") % {"count": done})
        return None
    context = {
        **modeladmin.admin_site.each_context(request), "title": title, "form": form, "listings": listings,
        "action": request.POST.get("action"), "opts": modeladmin.model._meta,
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
    }  # fmt: skip
    return TemplateResponse(request, "admin/marketplace/reason.html", context)


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    list_display = ["name", "creator", "status", "tier", "price_usd", "category", "timeframe", "updated_at"]
    list_filter = ["status", "tier", "category", "timeframe", "exchange"]
    search_fields = ["name", "description", "creator__email"]
    list_select_related = ["creator"]
    readonly_fields = [field.name for field in Listing._meta.fields]
    inlines = [ListingVersionInline]
    actions = ["approve", "reject", "unlist"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # buyers' bots run its versions; unlist instead

    @admin.action(description=gettext_lazy("Approve: publish the listings in review"))
    def approve(self, request: HttpRequest, queryset: QuerySet[Listing]) -> None:
        done = _apply(request, queryset, lambda listing: services.listing_review(
            staff=request.user, listing_id=listing.id, approve=True))  # fmt: skip
        if done:
            messages.success(request, _("%(count)d listing(s) published.") % {"count": done})

    @admin.action(description=gettext_lazy("Reject, with a reason the creator reads"))
    def reject(self, request: HttpRequest, queryset: QuerySet[Listing]) -> HttpResponse | None:
        return _with_reason(self, request, queryset, lambda listing, reason: services.listing_review(
            staff=request.user, listing_id=listing.id, approve=False, reason=reason), _("Reject listings"))  # fmt: skip

    @admin.action(description=gettext_lazy("Unlist, with a reason the creator reads"))
    def unlist(self, request: HttpRequest, queryset: QuerySet[Listing]) -> HttpResponse | None:
        return _with_reason(self, request, queryset, lambda listing, reason: services.listing_unlist(
            user=request.user, listing_id=listing.id, reason=reason), _("Unlist listings"))  # fmt: skip


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["listing", "user", "plan", "status", "price_usd", "expires_at", "auto_renew", "created_at"]
    list_filter = ["status", "plan", "provider", "auto_renew"]
    search_fields = ["listing__name", "user__email", "provider_subscription", "provider_checkout"]
    list_select_related = ["listing", "user"]


class RefundForm(forms.Form):
    amount = forms.DecimalField(
        label=gettext_lazy("Amount (USD); empty: what is left of each payment"),
        max_digits=10,
        decimal_places=2,
        required=False,
    )


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "listing", "buyer", "creator", "amount", "refunded", "disputed", "creator_share"]
    list_filter = ["provider"]
    search_fields = ["listing__name", "buyer__email", "creator__email", "provider_ref", "provider_payment"]
    list_select_related = ["listing", "buyer", "creator"]
    actions = ["refund"]

    @admin.action(description=gettext_lazy("Refund (through the payment provider)"))
    def refund(self, request: HttpRequest, queryset: QuerySet[Payment]) -> HttpResponse | None:
        form = RefundForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            amount = form.cleaned_data["amount"]
            done = _apply(request, queryset, lambda payment: subscriptions.payment_refund(
                staff=request.user, payment_id=payment.id,
                amount=amount if amount is not None else payment.amount - payment.refunded - payment.disputed,
            ))  # fmt: skip
            if done:
                messages.success(request, _("%(count)d payment(s) refunded.") % {"count": done})
            return None
        context = {
            **self.admin_site.each_context(request), "title": _("Refund payments"), "form": form,
            "listings": queryset, "action": request.POST.get("action"), "opts": self.model._meta,
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME), "apply": True,
        }  # fmt: skip
        return TemplateResponse(request, "admin/marketplace/reason.html", context)


class PayoutForm(forms.ModelForm):
    class Meta:
        model = Payout
        fields = ["creator", "amount", "reference"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("creator") and data.get("amount") is not None:
            subscriptions.payout_check(
                creator=data["creator"], amount=data["amount"], reference=data.get("reference", "")
            )
        return data


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    """Staff record a transfer they made to a creator; the service posts it to the ledger."""

    form = PayoutForm
    list_display = ["created_at", "creator", "amount", "reference", "recorded_by"]
    list_filter = ["created_at"]
    search_fields = ["creator__email", "reference"]
    list_select_related = ["creator", "recorded_by"]
    autocomplete_fields = ["creator"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Payout._meta.fields] if obj else []

    def save_model(self, request: HttpRequest, obj: Payout, form: Any, change: bool) -> None:
        payout = subscriptions.payout_record(
            staff=request.user, creator_id=obj.creator_id, amount=obj.amount, reference=obj.reference
        )
        obj.pk, obj.id, obj.recorded_by, obj.created_at = payout.pk, payout.id, payout.recorded_by, payout.created_at


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    """Append-only: PostgreSQL refuses a change or a deletion, whoever asks. The totals of the selected lines sit
    above the list."""

    list_display = ["id", "created_at", "kind", "account", "amount", "creator", "share", "payment", "payout"]
    list_filter = ["account", "kind"]
    search_fields = ["creator__email", "txn"]
    list_select_related = ["creator", "payment__listing", "payout__creator"]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        cl = getattr(response, "context_data", {}).get("cl")
        if cl is not None:
            totals = dict.fromkeys(LedgerEntry.Account.values, Decimal("0.00"))
            for row in cl.queryset.order_by().values("account").annotate(total=Sum("amount")):
                totals[row["account"]] = row["total"]
            labels = dict(LedgerEntry.Account.choices)
            response.context_data["totals"] = [(labels[key], value) for key, value in totals.items()]
        return response


@admin.register(ProviderEvent)
class ProviderEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "provider", "type", "status", "note", "id"]
    list_filter = ["provider", "status", "type"]
    search_fields = ["id", "type"]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    """Staff hide an abusive review (with the reason its author reads); the listing's average follows."""

    list_display = ["created_at", "listing", "author", "rating", "hidden", "hidden_reason"]
    list_filter = ["hidden", "rating"]
    search_fields = ["listing__name", "author__email", "text"]
    list_select_related = ["listing", "author"]
    actions = ["hide"]

    @admin.action(description=gettext_lazy("Hide, with a reason its author reads"))
    def hide(self, request: HttpRequest, queryset: QuerySet[Review]) -> HttpResponse | None:
        return _with_reason(self, request, queryset, lambda review, reason: reviews.review_hide(
            staff=request.user, review_id=review.id, reason=reason), _("Hide reviews"))  # fmt: skip
