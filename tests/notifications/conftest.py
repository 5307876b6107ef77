"""The local servers the notification channels talk to: a recording HTTP service (Telegram, Slack, FCM, push
services) and an SMTP server, both on 127.0.0.1; and no proxy between them and the tests."""

from __future__ import annotations

import pytest

from tests.notifications.fakes import serve, smtp_server


@pytest.fixture
def service():
    with serve() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _local_only(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def smtp(settings):
    recorder, controller = smtp_server()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield recorder
    controller.stop()
