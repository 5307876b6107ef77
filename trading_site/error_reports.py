"""Django's error reports without our secrets: the debug page (``DEBUG=1``) and the error e-mails to ADMINS.

``SafeReporterFilter`` (``DEFAULT_EXCEPTION_REPORTER_FILTER``) is on in debug too. It hides, by name, the
settings, request headers, cookies, POST fields and traceback variables that name a secret (``api_key``,
``secret``, ``passphrase``, ``password``, ``token``, ``signature``, ``Authorization``…), and by value, any
other variable whose text holds a secret (``trading_site.redact``). ``SafeExceptionReporter``
(``DEFAULT_EXCEPTION_REPORTER``) masks the finished page and e-mail text once more, so the exception's own
message and the query string are covered as well.
"""

from __future__ import annotations

import re
from typing import Any

from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter
from django.views.decorators.debug import sensitive_variables  # noqa: F401 - re-exported for views

from trading_site.redact import redact, redact_value

HIDDEN = re.compile(
    r"API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|SIGN$|COOKIE|CREDENTIAL|PRIVATE|DATABASE_URL|REDIS_URL|EMAIL_URL"
    r"|BROKER_URL|RESULT_BACKEND",
    flags=re.IGNORECASE,
)


class SafeReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = HIDDEN

    def is_active(self, request: Any) -> bool:
        return True  # the debug page is shown to whoever triggers the error: hide secrets there too

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        return redact_value(cleansed) if isinstance(cleansed, str) else cleansed

    def get_post_parameters(self, request: Any) -> Any:
        if request is None:
            return {}
        cleansed = request.POST.copy()
        for name in list(cleansed):
            if HIDDEN.search(name):
                cleansed.setlist(name, [self.cleansed_substitute])
            else:
                cleansed.setlist(name, [redact(str(v)) for v in cleansed.getlist(name)])
        return cleansed

    def get_cleansed_multivaluedict(self, request: Any, multivaluedict: Any) -> Any:
        cleansed = multivaluedict.copy()
        for name in list(cleansed):
            if HIDDEN.search(str(name)):
                cleansed.setlist(name, [self.cleansed_substitute])
        return cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        safe = []
        for name, value in variables:
            if isinstance(name, str) and HIDDEN.search(name) and value not in (None, ""):
                safe.append((name, self.cleansed_substitute))
            else:
                safe.append((name, redact_value(value)))
        return safe


class SafeExceptionReporter(ExceptionReporter):
    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        if self.request is not None and "request_GET_items" in data:  # the query string, cleansed by name too
            data["request_GET_items"] = self.filter.get_cleansed_multivaluedict(self.request, self.request.GET).items()
        return data

    def get_traceback_html(self) -> str:
        return redact(super().get_traceback_html())

    def get_traceback_text(self) -> str:
        return redact(super().get_traceback_text())


def sentry_before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    """Sentry's event with every string masked as the logs are (``trading_site.redact``): the message, the
    exception values, the stack's local variables, the request, breadcrumbs and extras, and values under a
    secret's name (``api_key``, ``secret``, ``password``, ``token`` …) replaced whatever their shape."""
    return _scrub(event)


def _scrub(value: Any, key: str = "") -> Any:
    from trading_site.logging import _secret_name
    from trading_site.redact import MASK, redact

    if key and _secret_name(key) and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value
