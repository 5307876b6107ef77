"""The shared cast: alice and bob own rows, charlie is the outsider who must never see them."""

from __future__ import annotations

import os

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts import services
from tests.factories import PASSWORD, UserFactory


@pytest.fixture(autouse=True)
def _fast_and_quiet(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from trading_site.celery import app

    app.conf.task_always_eager = True  # the Celery app reads settings once; set its own config too


@pytest.fixture(autouse=True)
def _english():
    """Tests compare English text; a test that switches to Korean must not leak it into the next."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _clean_cache():
    """Throttle and rate-limit counters live in the cache (Redis in CI): start every test at zero."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def alice(db):
    return UserFactory(email="alice@example.com")


@pytest.fixture
def bob(db):
    return UserFactory(email="bob@example.com")


@pytest.fixture
def charlie(db):
    return UserFactory(email="charlie@example.com")


@pytest.fixture
def api_client():
    return APIClient()


def token_client(user) -> APIClient:
    client = APIClient()
    issued = services.api_token_issue(user=user, name="tests")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.key}")
    return client


@pytest.fixture
def alice_api(alice):
    return token_client(alice)


@pytest.fixture
def charlie_api(charlie):
    return token_client(charlie)


@pytest.fixture
def bob_api(bob):
    return token_client(bob)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob):
    """Bob signed in, in a browser of his own (beside ``client``)."""
    browser = Client()
    browser.force_login(bob)
    return browser


ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")
ON_REDIS = bool(os.environ.get("REDIS_URL"))
needs_postgres = pytest.mark.skipif(not ON_POSTGRES, reason="needs DATABASE_URL=postgres://…")
needs_redis = pytest.mark.skipif(not ON_REDIS, reason="needs REDIS_URL=redis://…")
