"""No secret in a log line, a debug page or an error e-mail (issue 13): the logging filter on every handler masks
secret shapes and the values of secrets this process opened, in messages, arguments, tracebacks and extras; the
error reporter hides them by name and by value."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.core import mail
from django.http import HttpResponse
from django.test import Client
from django.urls import path

from trading_site import redact
from trading_site.logging import JsonFormatter, SecretsFilter, install

USER_SECRET = "Zq8vNk2LmP4rTx6Wb9Yc3Hd5Jf7Gs1"  # an exchange secret the process opened
TOKEN_SECRET = "q3Xo-8mT_jkV0eQnB7cRw5yZ2uHsLp9aFdGiKoE1Nv4"
URL_TOKEN = "Qm3nR5tV7xZ9bD1fH3jK5mP7rT9vX1zB3dF5hJ7kL9n"
BINANCE_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"


@pytest.fixture(autouse=True)
def _remembered():
    redact.forget_all()
    redact.remember(USER_SECRET)
    yield
    redact.forget_all()


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"token tdy_0a1b2c3d_{TOKEN_SECRET} used", TOKEN_SECRET),
        ("alert secret whs_5Tg7Hy9Ju1Ki3Lo5Mp7Nq9Rs wrong", "5Tg7Hy9Ju1Ki3Lo5Mp7Nq9Rs"),
        (f"POST /webhooks/tv/{URL_TOKEN}/ 200", URL_TOKEN),
        (f"key {BINANCE_KEY}!", BINANCE_KEY),
        ("Authorization: Bearer abc.def-ghi_123", "abc.def-ghi_123"),
        ("{'X-MBX-APIKEY': 'binance-key-12345', 'Accept': 'json'}", "binance-key-12345"),
        ('{"OK-ACCESS-PASSPHRASE": "my okx pass"}', "my okx pass"[:6]),
        ("OK-ACCESS-SIGN: c2lnbmF0dXJlLWJhc2U2NA==", "c2lnbmF0dXJlLWJhc2U2NA=="),
        ("{'apiKey': 'AK-12345678', 'secret': 'SK-87654321'}", "AK-12345678"),
        ("{'apiKey': 'AK-12345678', 'secret': 'SK-87654321'}", "SK-87654321"),
        ('{"password": "hunter2hunter2", "passphrase": "pp-998877"}', "hunter2hunter2"),
        ('{"password": "hunter2hunter2", "passphrase": "pp-998877"}', "pp-998877"),
        ("GET /api/v3/account?timestamp=1&recvWindow=5000&signature=9f86d081884c7d65 HTTP/1.1", "9f86d081884c7d65"),
        ("webhook_secret=s3cr3t-value&name=x", "s3cr3t-value"),
        (f"error near {USER_SECRET} in the answer", USER_SECRET),
        (f"quoted %22{USER_SECRET}%22", USER_SECRET),
    ],
)  # fmt: skip
def test_shapes_and_known_values_are_masked(text, secret):
    masked = redact.redact(text)
    assert secret not in masked and redact.MASK in masked


def test_ordinary_text_is_left_alone():
    for text in (
        "bot 7 halted: keys_rejected (AuthenticationError)",
        "Check the API key and the secret (and the passphrase on OKX)",
        "The secret is wrong.",
        "secret_hint=ab12 key_hint=cd34",
        "GET /api/v1/bots/?page=2 200",
    ):
        assert redact.redact(text) == text


def _record(msg, *args, exc=None, **extra):
    record = logging.LogRecord("trendy.test", logging.ERROR, __file__, 1, msg, args, None)
    if exc is not None:
        try:
            raise exc
        except type(exc):
            import sys

            record.exc_info = sys.exc_info()
    record.__dict__.update(extra)
    return record


def test_the_filter_masks_message_arguments_traceback_and_extras():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s %(detail)s"))
    handler.addFilter(SecretsFilter())
    record = _record(
        "connect failed for %s with %r",
        USER_SECRET,
        {"apiKey": "AK-12345678"},
        exc=UnicodeEncodeError("latin-1", f"header {USER_SECRET}\u200b", 7, 8, "ordinal not in range(256)"),
        detail=f"secret={USER_SECRET}",
        api_key="AK-12345678",
    )
    handler.handle(record)
    text = stream.getvalue()
    assert USER_SECRET not in text and "AK-12345678" not in text and "UnicodeEncodeError" in text
    assert record.api_key == redact.MASK
    json_line = JsonFormatter().format(record)
    assert USER_SECRET not in json_line and "AK-12345678" not in json_line
    assert json.loads(json_line)["exc_info"].startswith("Traceback")


def test_every_configured_handler_has_the_filter():
    from django.conf import settings

    for name, handler in settings.LOGGING["handlers"].items():
        assert "secrets" in handler.get("filters", []), name
    seen = []
    for logger in [logging.getLogger(), *(logging.getLogger(n) for n in ("django", "django.request", "django.server"))]:
        for handler in logger.handlers:
            if type(handler).__module__.startswith("_pytest"):
                continue  # pytest's own capture
            seen.append(handler)
            assert any(isinstance(f, SecretsFilter) for f in handler.filters), (logger.name, handler)
    assert seen


def test_a_celery_worker_handler_gets_the_filter():
    """Celery replaces the root logger's handlers in a worker; its signal puts the filter on them."""
    from celery.signals import after_setup_logger

    logger = logging.getLogger("trendy.fake-worker")
    handler = logging.StreamHandler(io.StringIO())
    logger.addHandler(handler)
    try:
        after_setup_logger.send(
            sender=None, logger=logger, loglevel=logging.INFO, logfile=None, format="", colorize=False
        )
        assert any(isinstance(f, SecretsFilter) for f in handler.filters)
        install(logger)  # idempotent
        assert sum(isinstance(f, SecretsFilter) for f in handler.filters) == 1
    finally:
        logger.removeHandler(handler)


# --- error pages and e-mails ---------------------------------------------------------------------------------


def leaky_view(request):
    api_key = request.POST.get("api_key")  # noqa: F841 - a local the debug page would show
    credentials = {"secret": USER_SECRET}  # noqa: F841
    opened = f"prefix-{USER_SECRET}"  # noqa: F841 - a value holding a secret, under an innocent name
    raise RuntimeError(f"exchange answered for {USER_SECRET}")


def fine_view(request):
    return HttpResponse("ok")


urlpatterns = [path("leak/", leaky_view), path("fine/", fine_view)]


@pytest.mark.django_db
def test_the_debug_page_hides_secrets_by_name_and_value(settings):
    settings.DEBUG = True
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    response = client.post(
        "/leak/?signature=abcdef123456",
        {"api_key": "AK-12345678", "passphrase": "POSTED-PASS-1", "label": "Main"},
        HTTP_AUTHORIZATION=f"Bearer tdy_0a1b2c3d_{TOKEN_SECRET}",
        HTTP_X_MBX_APIKEY="HEADER-KEY-1",
    )
    page = response.content.decode()
    assert response.status_code == 500 and "RuntimeError" in page and "leaky_view" in page  # still useful
    for secret in (USER_SECRET, "AK-12345678", "POSTED-PASS-1", "HEADER-KEY-1", "abcdef123456",
                   TOKEN_SECRET):  # fmt: skip
        assert secret not in page, secret
    assert "Main" in page


@pytest.mark.django_db
def test_the_error_email_hides_them_too(settings):
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = ["testserver"]
    client = Client(raise_request_exception=False)
    response = client.post("/leak/", {"secret": "POSTED-SECRET-1", "api_key": "AK-12345678"})
    assert response.status_code == 500
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    text = sent.subject + sent.body + "".join(str(a[0]) for a in sent.alternatives)
    assert "RuntimeError" in text
    for secret in (USER_SECRET, "AK-12345678", "POSTED-SECRET-1"):
        assert secret not in text, secret
