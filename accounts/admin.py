from __future__ import annotations

from typing import Any

from allauth.account.admin import EmailAddressAdmin as AllauthEmailAddressAdmin
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import selectors, services
from accounts.models import ApiToken, ExchangeAccount, RiskProfile, User
from trading_site.admin_filters import titled


class RiskProfileInline(admin.StackedInline):
    model = RiskProfile
    can_delete = False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "is_active", "is_staff", "auto_trading", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "auto_trading", "groups", "date_joined", "last_login"]
    search_fields = ["email", "first_name", "last_name"]
    date_hierarchy = "date_joined"
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "timezone")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = [RiskProfileInline]

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        # A new user gets the default profile on creation (accounts.signals); it is edited afterwards.
        return self.inlines if obj is not None else []


@admin.register(RiskProfile)
class RiskProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "leverage", "position_size_pct", "stop_loss_pct", "take_profit_pct", "max_drawdown_pct"]
    list_filter = ["leverage", "position_size_pct", "max_drawdown_pct"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    date_hierarchy = "updated_at"
    readonly_fields = ["user", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # every user has exactly one; it goes with the user

    def save_model(self, request: HttpRequest, obj: RiskProfile, form: Any, change: bool) -> None:
        services.risk_profile_update(user=obj.user, **{name: getattr(obj, name) for name in services.RISK_FIELDS})


class ApiTokenStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:
        return [("valid", _("Valid")), ("expired", _("Expired")), ("unused", _("Never used"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        if self.value() == "valid":
            return queryset.filter(expires_at__gt=timezone.now())
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=timezone.now())
        if self.value() == "unused":
            return queryset.filter(last_used_at__isnull=True)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "expires_at", "last_used_at"]
    list_filter = [ApiTokenStateFilter, ("created_at", titled(_("created at"))), "expires_at", "last_used_at"]
    # The prefix is what a leaked token shows in logs: staff find the token by it.
    search_fields = ["user__email", "name", "prefix"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    readonly_fields = ["user", "name", "prefix", "created_at", "expires_at", "last_used_at"]
    exclude = ["key_hash"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        count = 0
        for token in queryset:
            services.api_token_revoke(user=token.user, token_id=token.id)
            count += 1
        self.message_user(request, _("%(count)d tokens revoked.") % {"count": count}, messages.SUCCESS)


@admin.register(ExchangeAccount)
class ExchangeAccountAdmin(admin.ModelAdmin):
    """Read-only: users add, test and delete their accounts themselves. The sealed keys are never shown,
    only the masked hint; staff may switch accounts off (through the service) when a key leaks."""

    list_display = [
        "label", "user", "exchange", "testnet", "market_type", "api_key_hint", "enabled",
        "last_test_at", "last_test_ok", "withdrawals_enabled", "created_at",
    ]  # fmt: skip
    list_filter = [
        "exchange", "testnet", "market_type", "enabled", ("last_test_ok", titled(_("connection test passed"))),
        "withdrawals_enabled", ("created_at", titled(_("created at"))),
    ]  # fmt: skip
    # ``key_hint`` is the API key's last four characters: a leaked key is found by its end.
    search_fields = ["user__email", "label", "exchange", "key_hint"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    fields = [
        "user", "exchange", "label", "testnet", "market_type", "api_key_hint", "paper_balance", "enabled",
        "created_at", "last_test_at", "last_test_ok", "last_test_message", "withdrawals_enabled",
    ]  # fmt: skip
    readonly_fields = fields
    actions = ["disable", "enable"]

    @admin.display(description=_("API key"))
    def api_key_hint(self, obj: ExchangeAccount) -> str:
        return selectors.exchange_account_masked_key(obj) or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_toggle_permission(self, request: HttpRequest) -> bool:
        # The form is read-only for everybody; switching an account on or off needs the change permission.
        return request.user.has_perm("accounts.change_exchangeaccount")

    def _set_enabled(self, request: HttpRequest, queryset: Any, enabled: bool) -> int:
        count = 0
        for account in queryset:
            services.exchange_account_set_enabled(account=account, enabled=enabled)
            count += 1
        return count

    @admin.action(description=_("Disable the selected exchange accounts"), permissions=["toggle"])
    def disable(self, request: HttpRequest, queryset: Any) -> None:
        count = self._set_enabled(request, queryset, False)
        self.message_user(request, _("%(count)d exchange accounts disabled.") % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Enable the selected exchange accounts"), permissions=["toggle"])
    def enable(self, request: HttpRequest, queryset: Any) -> None:
        count = self._set_enabled(request, queryset, True)
        self.message_user(request, _("%(count)d exchange accounts enabled.") % {"count": count}, messages.SUCCESS)


admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(admin.ModelAdmin):
    """Two-factor authenticators; their sealed secrets are never shown. allauth's fields have no translatable
    names, so every column, filter and label here carries ours."""

    list_display = ("owner", "kind", "created", "last_used")
    list_filter = (
        ("type", titled(_("type"))),
        ("created_at", titled(_("created at"))),
        ("last_used_at", titled(_("last used at"))),
    )
    search_fields = ("user__email",)
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    fields = ("owner", "kind", "created", "last_used", "secret")
    readonly_fields = fields

    @admin.display(description=_("user"), ordering="user__email")
    def owner(self, obj: Authenticator) -> str:
        return obj.user.email

    @admin.display(description=_("type"), ordering="type")
    def kind(self, obj: Authenticator) -> str:
        return obj.get_type_display()

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, obj: Authenticator) -> Any:
        return obj.created_at

    @admin.display(description=_("last used at"), ordering="last_used_at", empty_value="—")
    def last_used(self, obj: Authenticator) -> Any:
        return obj.last_used_at

    @admin.display(description=_("secret"))
    def secret(self, obj: Authenticator) -> str:
        return "•" * 8 + " " + str(_("(encrypted)"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


admin.site.unregister(EmailAddress)


@admin.register(EmailAddress)
class EmailAddressAdmin(AllauthEmailAddressAdmin):
    """allauth's admin (search by address and user, verify action) without one query per row for the user."""

    list_select_related = ("user",)
