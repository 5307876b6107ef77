"""Staff review listings here: approve (published) or reject with the reason the creator reads; unlist one that is
published, saying why. Every decision goes through ``marketplace.services``; the rows are otherwise read-only (what
a listing says is its creator's)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from marketplace import services
from marketplace.models import Listing, ListingVersion


class ReasonForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason the creator reads"), max_length=2_000, widget=forms.Textarea)


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
            messages.error(request, f"{listing.name}: {text}")
    return done


def _with_reason(modeladmin: Any, request: HttpRequest, listings: QuerySet[Listing], act: Any, title: str) -> Any:
    """Ask for the reason on a page of its own, then act on each listing with it."""
    form = ReasonForm(request.POST if "reason" in request.POST else None)
    if form.is_bound and form.is_valid():
        done = _apply(request, listings, lambda listing: act(listing, form.cleaned_data["reason"]))
        if done:
            messages.success(request, _("%(count)d listing(s) done.") % {"count": done})
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
