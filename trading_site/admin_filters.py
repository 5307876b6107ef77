"""A list filter with our title, for fields whose verbose name is untranslated (a library's model, or a
field that has none): the admin would show "By created at" on a Korean page. And the read-only admin the apps share."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin import FieldListFilter
from django.utils.functional import Promise


def titled(title: str | Promise) -> type[FieldListFilter]:
    """``list_filter = [("created_at", titled(_("created at")))]``: the filter Django would pick for the field
    (dates, booleans, choices, related rows, values), under ``title``."""

    class TitledFieldListFilter(FieldListFilter):
        def __new__(cls, field: Any, request: Any, params: Any, model: Any, model_admin: Any, field_path: str) -> Any:
            spec = FieldListFilter.create(field, request, params, model, model_admin, field_path)
            spec.title = title
            return spec

    return TitledFieldListFilter


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that change only through their app's services (trading records, webhook events, marketplace money):
    staff read them; actions that call the services are the only writes."""

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
