"""Settings come from the environment and refuse bad values loudly (run in a fresh process each)."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from trading_site.env import env_bool, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parents[2]
KEY = base64.b64encode(b"k" * 32).decode()
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "a-long-random-production-secret-key-of-more-than-fifty-characters-0123456789",
    "DJANGO_ALLOWED_HOSTS": "trendy.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://trendy.example.com",
    "TRENDY_ENCRYPTION_KEYS": KEY,
    "EMAIL_URL": "smtp://user:pass@127.0.0.1:587",
    "REDIS_URL": "redis://127.0.0.1:6379/5",
    "TRENDY_METRICS_TOKEN": "a-long-random-metrics-token",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "TRENDY_", "EMAIL_URL", "CSRF_", "REDIS_URL"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, check=False
    )


def test_env_readers(monkeypatch, tmp_path):
    monkeypatch.setenv("B", "yes")
    assert env_bool("B") is True
    monkeypatch.setenv("B", "maybe")
    with pytest.raises(ImproperlyConfigured, match="B='maybe' is not a boolean"):
        env_bool("B")
    monkeypatch.setenv("N", "ten")
    with pytest.raises(ImproperlyConfigured, match="not a whole number"):
        env_int("N", 1)
    monkeypatch.setenv("L", " a, b ,,c ")
    assert env_list("L") == ["a", "b", "c"]
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("S_FILE", str(secret))
    assert env_str("S") == "from-a-file"
    monkeypatch.setenv("S_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env_str("S")


def test_check_deploy_is_clean_with_production_values():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_payments_in_production():
    """Off by default; test mode is said by check --deploy (no money moves); Stripe needs its two keys."""
    test_mode = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, TRENDY_PAYMENTS="test")
    assert test_mode.returncode != 0 and "trendy.W002" in test_mode.stderr + test_mode.stdout
    stripe = manage("check", **PRODUCTION, TRENDY_PAYMENTS="stripe", STRIPE_SECRET_KEY="sk_live_x")
    assert stripe.returncode != 0 and "needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET" in stripe.stderr


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("TRENDY_ENCRYPTION_KEYS", "TRENDY_ENCRYPTION_KEYS must be set when DJANGO_DEBUG is off"),
        ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY must be set"),
        ("DJANGO_ALLOWED_HOSTS", "DJANGO_ALLOWED_HOSTS must list"),
        ("REDIS_URL", "REDIS_URL must be set when DJANGO_DEBUG is off"),
    ],
)
def test_production_refuses_to_start_without(missing, message):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = manage("check", **env)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DJANGO_DEBUG", "perhaps", "DJANGO_DEBUG='perhaps' is not a boolean"),
        ("DATABASE_URL", "mysql://root@127.0.0.1/x", "must be postgres:// or sqlite://"),
        ("REDIS_URL", "localhost:6379", "must start with redis://"),
        ("EMAIL_URL", "pigeon://coop", "EMAIL_URL scheme 'pigeon'"),
        ("CSRF_TRUSTED_ORIGINS", "trendy.example.com", "must start with http:// or https://"),
        ("TRENDY_ENCRYPTION_KEYS", "not base64!", "is not valid base64"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL='LOUD'"),
        ("TRENDY_PAYMENTS", "paypal", "TRENDY_PAYMENTS is test, stripe or off"),
    ],
)
def test_bad_values_are_named(name, value, message):
    result = manage("check", **{name: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_development_key_warns_only_in_debug():
    result = manage("check", DJANGO_DEBUG="1")
    assert result.returncode == 0
    assert "TRENDY_ENCRYPTION_KEYS is not set" in result.stderr
