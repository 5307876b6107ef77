"""Logging: one JSON object per log line for log shippers (LOG_FORMAT=json), and the filter that keeps secrets
out of every log line.

``SecretsFilter`` sits on every handler of ``settings.LOGGING`` (so on what the web server, ``django.request``'s
error reports and the worker write) and, in a Celery worker, on the handlers Celery installs
(:func:`connect_celery`). It rewrites the record in place before any handler formats it: the message with its
arguments, the exception's traceback text, the stack, and the extra attributes (``trading_site.redact`` says
what is masked).
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime
from typing import Any

from trading_site.redact import MASK, SECRET_NAME, redact, redact_value
from trading_site.request_context import log_context

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(log_context())  # the request's id and user, or the Celery task's id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        if record.exc_info:
            # The text the secrets filter left (it masks the traceback once, for every handler).
            payload["exc_info"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def _secret_name(name: str) -> bool:
    import re

    return re.fullmatch(SECRET_NAME, name, flags=re.IGNORECASE) is not None


class SecretsFilter(logging.Filter):
    """Masks secrets in a record (never drops it). Safe to install on many handlers: a record is rewritten once."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_secrets_masked", False):
            return True
        try:
            redact_record(record)
        except Exception:  # noqa: BLE001 - logging must go on; the message is dropped rather than risked
            record.msg, record.args = "(log message withheld: it could not be checked for secrets)", None
            record.exc_info, record.exc_text = None, None
        record._secrets_masked = True
        return True


def redact_record(record: logging.LogRecord) -> None:
    if isinstance(record.msg, str) and not record.args:
        record.msg = redact(record.msg)
    else:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - bad format arguments: keep what can be shown
            message = f"{record.msg!s} {record.args!r}"
        masked = redact(message)
        if masked != message or not isinstance(record.msg, str):
            record.msg, record.args = masked, None
    if record.exc_info and record.exc_info[0] is not None:
        text = record.exc_text or "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        record.exc_text = redact(text)
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    for key, value in list(vars(record).items()):
        if key in _STANDARD or key.startswith("_"):
            continue
        if _secret_name(key) and value not in (None, ""):
            setattr(record, key, MASK)
        else:
            setattr(record, key, redact_value(value))


def install(logger: logging.Logger | None = None) -> None:
    """Put the filter on every handler of ``logger`` (the root logger by default) that lacks it."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, SecretsFilter) for f in handler.filters):
            handler.addFilter(SecretsFilter())


def _install_on_celery_logger(logger: logging.Logger | None = None, **kwargs: Any) -> None:
    install(logger)
    install()


def connect_celery() -> None:
    """A worker replaces the root logger's handlers with its own: put the filter on those too."""
    from celery.signals import after_setup_logger, after_setup_task_logger

    after_setup_logger.connect(_install_on_celery_logger, weak=False, dispatch_uid="trendy-secrets-filter")
    after_setup_task_logger.connect(_install_on_celery_logger, weak=False, dispatch_uid="trendy-secrets-filter-task")
