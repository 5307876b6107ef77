"""/metrics needs its token whenever DJANGO_DEBUG=0 (issue 13): without one configured it answers 404, and
``check --deploy`` says so."""

from __future__ import annotations

from tests.trading_site.test_settings import PRODUCTION, manage


def test_metrics_without_a_token_is_closed_when_debug_is_off(client, settings):
    settings.DEBUG = False
    settings.TRENDY_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_metrics_with_a_token_when_debug_is_off(client, settings):
    settings.DEBUG = False
    settings.TRENDY_METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-m").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200


def test_check_deploy_warns_without_a_metrics_token():
    env = {k: v for k, v in PRODUCTION.items() if k != "TRENDY_METRICS_TOKEN"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode != 0
    assert "TRENDY_METRICS_TOKEN" in result.stdout + result.stderr
