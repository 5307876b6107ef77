"""A list filter with our title, for fields whose verbose name is untranslated (a library's model, or a
field that has none): the admin would show "By created at" on a Korean page."""

from __future__ import annotations

from typing import Any

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
