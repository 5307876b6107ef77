"""The one error the analytics raise for input they cannot answer: a translated message, a code, a field."""

from __future__ import annotations


class AnalysisError(ValueError):
    def __init__(self, message: str, *, code: str, field: str = "non_field_errors") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
