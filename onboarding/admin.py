"""Staff see where each trader is in the onboarding wizard, read-only: the wizard's state is the trader's own,
written by ``onboarding.services`` only. The stored choices hold ids and settings, never a key or a secret."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from onboarding.models import OnboardingState
from trading_site.admin_filters import titled


@admin.register(OnboardingState)
class OnboardingStateAdmin(admin.ModelAdmin):
    list_display = ["user", "step", "finished", "completed_at", "dismissed_at", "updated_at"]
    # ``completed_at`` and ``dismissed_at`` offer "No date" and "Has date" (finished; set aside) besides periods.
    list_filter = ["step", "completed_at", "dismissed_at", ("updated_at", titled(_("updated at")))]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    date_hierarchy = "updated_at"
    ordering = ["-updated_at"]
    fields = ["user", "step", "data", "completed_at", "dismissed_at", "updated_at"]
    readonly_fields = fields

    @admin.display(description=_("finished"), boolean=True, ordering="completed_at")
    def finished(self, state: OnboardingState) -> bool:
        return state.done

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
